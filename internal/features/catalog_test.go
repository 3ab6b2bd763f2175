package features

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// fullVector returns a vector whose every field holds a distinct, non-zero,
// non-NULL value, so a swapped or dropped column shows.
func fullVector() Vector {
	var v Vector
	rv := reflect.ValueOf(&v).Elem()
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	for i := range rv.NumField() {
		f := rv.Field(i)
		n := i + 1
		switch f.Kind() {
		case reflect.Int64:
			f.SetInt(int64(n))
		case reflect.Float64:
			f.SetFloat(float64(n) + 0.5)
		case reflect.Struct: // Null[T]
			val, valid := f.Field(0), f.Field(1)
			valid.SetBool(true)
			switch val.Kind() {
			case reflect.Int64:
				val.SetInt(int64(n))
			case reflect.Float64:
				val.SetFloat(float64(n) + 0.5)
			case reflect.String:
				val.SetString("v" + string(rune('a'+i)))
			case reflect.Struct:
				val.Set(reflect.ValueOf(at.Add(time.Duration(n) * time.Hour)))
			}
		}
	}
	return v
}

// TestCatalogMatchesVector checks the catalogue against the Vector type and
// the tests' own independent column list: same names, same order, the
// catalogue's types and nullability, and AppendValues and ScanTargets in
// that order.
func TestCatalogMatchesVector(t *testing.T) {
	t.Parallel()
	catalog := Catalog()
	if len(catalog) != len(vectorColumns) || len(catalog) != reflect.TypeFor[Vector]().NumField() || Count() != len(catalog) {
		t.Fatalf("catalogue has %d features, the test list %d, Vector %d fields", len(catalog), len(vectorColumns), reflect.TypeFor[Vector]().NumField())
	}
	v := fullVector()
	values := v.AppendValues(nil)
	var back Vector
	targets, finish := back.ScanTargets(nil)
	if len(values) != len(catalog) || len(targets) != len(catalog) {
		t.Fatalf("AppendValues gives %d values, ScanTargets %d targets, want %d", len(values), len(targets), len(catalog))
	}
	for i, d := range catalog {
		col := vectorColumns[i]
		if d.Name != col.name || Names()[i] != d.Name {
			t.Errorf("feature %d: catalogue %s, column list %s", i, d.Name, col.name)
		}
		if got, want := values[i], col.get(&v); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: AppendValues gives %v, the column reads %v", d.Name, got, want)
		}
		field := reflect.TypeFor[Vector]().Field(i)
		nullable := field.Type.Kind() == reflect.Struct && field.Type != reflect.TypeFor[time.Time]()
		if nullable != d.Nullable {
			t.Errorf("%s: catalogue nullable %v, field %s is %s", d.Name, d.Nullable, field.Name, field.Type)
		}
		var typ Type
		switch x := values[i].(type) {
		case int64:
			typ = TypeInt
		case float64:
			typ = TypeFloat
		case time.Time:
			typ = TypeTimestamp
		case string:
			typ = TypeString
		default:
			t.Fatalf("%s: unexpected value type %T", d.Name, x)
		}
		if typ != d.Type {
			t.Errorf("%s: catalogue type %s, value type %s", d.Name, d.Type, typ)
		}
		// Simulate the database scan: each target receives its column's value.
		reflect.ValueOf(targets[i]).Elem().Set(reflectValueFor(targets[i], values[i]))
	}
	finish()
	if !reflect.DeepEqual(back, v) {
		t.Errorf("ScanTargets round trip:\n got %+v\nwant %+v", back, v)
	}
}

// reflectValueFor converts a column value to what the scan target points
// to: the value itself, or a pointer to it for NULL-able targets.
func reflectValueFor(target, value any) reflect.Value {
	elem := reflect.TypeOf(target).Elem()
	if elem.Kind() == reflect.Pointer {
		p := reflect.New(elem.Elem())
		p.Elem().Set(reflect.ValueOf(value))
		return p
	}
	return reflect.ValueOf(value)
}

func TestCatalogRanges(t *testing.T) {
	t.Parallel()
	for _, d := range Catalog() {
		if d.Description == "" {
			t.Errorf("%s has no description", d.Name)
		}
		if d.Min.Valid && d.Max.Valid && !(d.Min.V < d.Max.V) {
			t.Errorf("%s: empty range [%v, %v]", d.Name, d.Min.V, d.Max.V)
		}
		if d.Max.Valid && math.IsInf(d.Max.V, 0) {
			t.Errorf("%s: infinite max", d.Name)
		}
	}
}

func TestAppendDense(t *testing.T) {
	t.Parallel()
	v := fullVector()
	v.PreferredDevice = Some("tablet")
	v.ChannelPreference = Some("newsletter-2025") // not a listed channel: "other"
	v.ViewRecency = Null[int64]{}
	dense := v.AppendDense(nil)
	if len(dense) != Count() {
		t.Fatalf("dense has %d values, want %d", len(dense), Count())
	}
	byName := map[string]float64{}
	for i, d := range Catalog() {
		byName[d.Name] = dense[i]
	}
	for name, want := range map[string]float64{
		"total_views":        float64(v.TotalViews),
		"engagement_score":   v.EngagementScore,
		"preferred_device":   2,
		"channel_preference": float64(len(ChannelCategories) - 1),
		"first_view_date":    float64(v.FirstViewDate.V.UnixMicro()) / 1e6,
	} {
		if byName[name] != want {
			t.Errorf("%s = %v, want %v", name, byName[name], want)
		}
	}
	if !math.IsNaN(byName["view_recency"]) {
		t.Errorf("NULL view_recency = %v, want NaN", byName["view_recency"])
	}
	v.ChannelPreference = Some("social")
	if got := v.AppendDense(nil)[24]; got != 3 {
		t.Errorf("channel social = %v, want 3", got)
	}
}
