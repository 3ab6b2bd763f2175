package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/featurestore/featurestore/internal/auth"
	"github.com/featurestore/featurestore/internal/invalid"
	"github.com/featurestore/featurestore/internal/pixel"
	"github.com/featurestore/featurestore/internal/store"
)

// keysUsage lists the subcommands of keys.
const keysUsage = `featurestore keys create --name NAME --shops SHOP[,SHOP...]|'*' --scopes SCOPE[,SCOPE...] [--expires DURATION] [--origins ORIGIN,...] [--replace]
featurestore keys list
featurestore keys revoke NAME

Scopes: read (GetFeatures, DescribeFeatures), export (StreamFeatures), compute (ComputeFeatures),
ingest (IngestInteractions), pixel (the web pixel endpoint; a public key, alone in its key, for one shop).`

func runKeys(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(os.Stderr, "Usage:\n"+keysUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: keys needs create, list or revoke", errUsage)
		}
		return nil
	}
	switch args[0] {
	case "create":
		return runKeysCreate(ctx, args[1:])
	case "list":
		return runKeysList(ctx, args[1:])
	case "revoke":
		return runKeysRevoke(ctx, args[1:])
	}
	return fmt.Errorf("%w: unknown keys command %q: use create, list or revoke", errUsage, args[0])
}

// keyRequest is a key to create, as the flags give it.
type keyRequest struct {
	name, shops, scopes, expires, origins string
	replace                               bool
}

// maxKeyName is the longest name the api_keys table takes.
const maxKeyName = 100

// parse checks the request and returns the key to store, without its
// secret.
func (r keyRequest) parse(now time.Time) (store.APIKey, auth.Scope, error) {
	k := store.APIKey{Name: strings.TrimSpace(r.name)}
	if k.Name == "" {
		return k, 0, fmt.Errorf("%w: --name is required", errUsage)
	}
	if reason := invalid.CheckText(k.Name, maxKeyName); reason != "" {
		return k, 0, fmt.Errorf("%w: --name %s", errUsage, reason)
	}
	k.Shops = splitList(r.shops)
	if len(k.Shops) == 0 {
		return k, 0, fmt.Errorf("%w: --shops is required: the shops the key may act on, comma-separated, or '*' for every shop", errUsage)
	}
	for _, shop := range k.Shops {
		if shop == auth.AllShops && len(k.Shops) > 1 {
			return k, 0, fmt.Errorf("%w: --shops: '*' means every shop and goes alone", errUsage)
		}
		if err := invalid.ID("--shops", shop); err != nil {
			return k, 0, fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	slices.Sort(k.Shops)
	k.Shops = slices.Compact(k.Shops)
	scopes, err := auth.ParseScopes(splitList(r.scopes))
	if err != nil {
		return k, 0, fmt.Errorf("%w: --scopes: %v", errUsage, err)
	}
	if scopes == 0 {
		return k, 0, fmt.Errorf("%w: --scopes is required: %s", errUsage, strings.Join(auth.ScopeNames(), ", "))
	}
	k.Scopes = scopes.Names()
	k.Origins = splitList(r.origins)
	if scopes&auth.ScopePixel != 0 {
		// A pixel key sits in storefront code, where anyone can read it.
		if scopes != auth.ScopePixel {
			return k, 0, fmt.Errorf("%w: --scopes: a pixel key is public (it sits in storefront code), so it cannot also have %s: make a separate key", errUsage, (scopes &^ auth.ScopePixel))
		}
		if len(k.Shops) != 1 || k.Shops[0] == auth.AllShops {
			return k, 0, fmt.Errorf("%w: --shops: a pixel key is for one shop, named", errUsage)
		}
		if _, err := pixel.ParseOrigins(r.origins); err != nil {
			return k, 0, fmt.Errorf("%w: --origins: %v", errUsage, err)
		}
	} else if len(k.Origins) > 0 {
		return k, 0, fmt.Errorf("%w: --origins applies to pixel keys only (--scopes pixel)", errUsage)
	}
	if r.expires != "" {
		d, err := parseExpiry(r.expires)
		if err != nil {
			return k, 0, fmt.Errorf("%w: --expires: %v", errUsage, err)
		}
		at := now.Add(d).UTC()
		k.ExpiresAt = &at
	}
	return k, scopes, nil
}

// parseExpiry reads a positive duration: Go's (720h, 90m) or whole days
// (30d).
func parseExpiry(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 100*365 {
			return 0, fmt.Errorf("%q is not a number of days such as 30d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 30d or 720h", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return d, nil
}

func runKeysCreate(ctx context.Context, args []string) error {
	var (
		cfg config
		req keyRequest
	)
	fs := newFlagSet("keys create", "--name NAME --shops SHOP[,SHOP...]|'*' --scopes SCOPE[,SCOPE...] [--expires DURATION] [flags]")
	cfg.databaseFlags(fs)
	fs.StringVar(&req.name, "name", "", "the key's name, unique among keys that are not revoked (required)")
	fs.StringVar(&req.shops, "shops", "", "comma-separated shops the key may act on, or '*' for every shop (required)")
	fs.StringVar(&req.scopes, "scopes", "", "comma-separated scopes: "+strings.Join(auth.ScopeNames(), ", ")+" (required)")
	fs.StringVar(&req.expires, "expires", "", "lifetime, e.g. 30d or 720h; empty: never expires")
	fs.StringVar(&req.origins, "origins", "", "pixel keys: comma-separated browser origins that may use the key (https://shop.example.com, https://*.example.com, null); empty: the server's --pixel-origins")
	fs.BoolVar(&req.replace, "replace", false, "revoke the key of the same name first, in the same transaction (how make run renews its demo key)")
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	key, scopes, err := req.parse(time.Now())
	if err != nil {
		return err
	}
	id, secret, err := auth.NewSecret()
	if err != nil {
		return err
	}
	hash := auth.HashSecret(secret)
	key.ID, key.SecretHash = id, hash[:]
	st, closeDB, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	stored, replaced, err := st.CreateKey(ctx, key, req.replace)
	if errors.Is(err, store.ErrKeyNameTaken) {
		return fmt.Errorf("%w: a key named %q exists: choose another --name, or revoke it first (featurestore keys revoke %s, or --replace)", errUsage, key.Name, key.Name)
	}
	if err != nil {
		return err
	}
	if replaced {
		fmt.Printf("Revoked the previous key named %q (servers stop accepting it within %s).\n", stored.Name, auth.DefaultCacheTTL)
	}
	fmt.Printf("Created API key %q (id %s): shops %s; scopes %s; expires %s.\n",
		stored.Name, stored.ID, strings.Join(stored.Shops, ","), strings.Join(stored.Scopes, ","), formatTime(stored.ExpiresAt, "never"))
	if scopes == auth.ScopePixel {
		fmt.Printf("A pixel key is public: put it in the pixel's URL, https://YOUR_HOST/v1/pixel/%s?key=KEY\n", stored.Shops[0])
	} else {
		fmt.Println("The secret below is shown only this once: store it now. Callers send it as the gRPC metadata authorization: Bearer KEY")
	}
	fmt.Println(secret)
	return nil
}

func runKeysList(ctx context.Context, args []string) error {
	var cfg config
	fs := newFlagSet("keys list", "[flags]")
	cfg.databaseFlags(fs)
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	db, closeDB, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	keys, err := db.ListKeys(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSTATUS\tSHOPS\tSCOPES\tORIGINS\tCREATED\tLAST USED\tEXPIRES")
	for _, k := range keys {
		st := "active"
		switch {
		case k.RevokedAt != nil:
			st = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
		case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
			st = "expired"
		}
		origins := strings.Join(k.Origins, ",")
		if origins == "" {
			origins = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Name, k.ID, st, strings.Join(k.Shops, ","), strings.Join(k.Scopes, ","),
			origins, k.CreatedAt.UTC().Format(time.RFC3339), formatTime(k.LastUsedAt, "never"), formatTime(k.ExpiresAt, "never"))
	}
	return tw.Flush()
}

func formatTime(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func runKeysRevoke(ctx context.Context, args []string) error {
	var cfg config
	fs := newFlagSet("keys revoke", "NAME [flags]")
	cfg.databaseFlags(fs)
	// The name may come before the flags or after them.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		if name != "" || fs.NArg() > 1 {
			return fmt.Errorf("%w: keys revoke takes one name, not %q", errUsage, strings.Join(append([]string{name}, fs.Args()...), " "))
		}
		name = fs.Arg(0)
	}
	if name == "" {
		return fmt.Errorf("%w: keys revoke needs the name of the key to revoke (featurestore keys list shows them)", errUsage)
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	st, closeDB, err := cfg.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	key, err := st.RevokeKey(ctx, name)
	if errors.Is(err, store.ErrKeyNotFound) {
		return fmt.Errorf("no key named %q is active (featurestore keys list shows the keys)", name)
	}
	if err != nil {
		return err
	}
	fmt.Printf("Revoked API key %q (id %s); servers stop accepting it within %s.\n", key.Name, key.ID, auth.DefaultCacheTTL)
	return nil
}
