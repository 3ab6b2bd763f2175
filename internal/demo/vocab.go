package demo

// The vocabularies below are stored boxed ([]any) because CopyFrom takes
// rows as []any: boxing each name once here keeps the per-event cost free of
// allocations. Index 0 of a nullable vocabulary is NULL.

// Event kinds, with Shopify's web-pixel names.
const (
	evView = iota
	evCartAdd
	evCartRemove
	evPurchase
	evPageViewed
	evCollectionViewed
	evSearchSubmitted
	evCartViewed
)

var eventNames = []any{
	evView:             "product_viewed",
	evCartAdd:          "product_added_to_cart",
	evCartRemove:       "product_removed_from_cart",
	evPurchase:         "checkout_completed",
	evPageViewed:       "page_viewed",
	evCollectionViewed: "collection_viewed",
	evSearchSubmitted:  "search_submitted",
	evCartViewed:       "cart_viewed",
}

// Page types: where a view happened or was reached from.
const (
	pageNull = iota
	pageProduct
	pageCollection
	pageSearch
	pageCategory
	pageHome
	pageCart
	pageCheckout
	pageBlog
)

var pageNames = []any{
	pageNull:       nil,
	pageProduct:    "product",
	pageCollection: "collection",
	pageSearch:     "search",
	pageCategory:   "category",
	pageHome:       "home",
	pageCart:       "cart",
	pageCheckout:   "checkout",
	pageBlog:       "blog",
}

// viewPages is the page a product view after the first of a session is
// reached from; a session's first view lands on the product page itself.
var (
	viewPages    = []int{pageCollection, pageProduct, pageSearch, pageCategory, pageHome, pageNull}
	viewPageMix  = newMix(32, 28, 18, 14, 5, 3)
	landingPages = []int{pageProduct, pageCollection, pageHome}
	landingMix   = newMix(70, 20, 10)
)

// Page-level events: no product_id, so they never form a pair.
var (
	pageEvents    = []int{evPageViewed, evCollectionViewed, evSearchSubmitted, evCartViewed}
	pageEventMix  = newMix(60, 20, 12, 8)
	pageViewPages = []int{pageHome, pageCollection, pageBlog, pageNull, pageCart}
	pageViewMix   = newMix(50, 20, 12, 10, 8)
)

// Devices.
const (
	deviceNull = iota
	deviceMobile
	deviceDesktop
	deviceTablet
)

var (
	deviceNames = []any{deviceNull: nil, deviceMobile: "mobile", deviceDesktop: "desktop", deviceTablet: "tablet"}
	deviceMix   = newMix(0, 60, 32, 8)
)

// Referrers: a session lands from one of the external ones (or direct) and
// then moves internally.
const (
	refNull = iota
	refDirect
	refInternal
	refSearchEngine
	refSocial
	refEmail
	refPaid
	refReferral
)

var (
	referrerNames = []any{
		refNull: nil, refDirect: "direct", refInternal: "internal", refSearchEngine: "search_engine",
		refSocial: "social", refEmail: "email", refPaid: "paid", refReferral: "referral",
	}
	landingRefMix = newMix(2, 30, 0, 24, 16, 10, 10, 8)
)

// productType is a catalogue category with its typical price in cents and
// the nouns its titles use.
type productType struct {
	name   string
	median float64
	nouns  []string
}

var productTypes = []productType{
	{"T-Shirts", 2800, []string{"Tee", "Crew Tee", "Pocket Tee", "Long Sleeve Tee"}},
	{"Hoodies", 6400, []string{"Hoodie", "Zip Hoodie", "Sweatshirt"}},
	{"Sneakers", 11000, []string{"Sneaker", "Runner", "Trainer", "High-Top"}},
	{"Jackets", 15500, []string{"Jacket", "Parka", "Windbreaker", "Overshirt"}},
	{"Hats", 2600, []string{"Cap", "Beanie", "Bucket Hat"}},
	{"Bags", 7200, []string{"Backpack", "Tote", "Duffel", "Crossbody Bag"}},
	{"Socks", 1300, []string{"Socks", "Ankle Socks", "Hiking Socks"}},
	{"Mugs", 1800, []string{"Mug", "Travel Mug", "Tumbler"}},
	{"Candles", 2400, []string{"Candle", "Soy Candle", "Tin Candle"}},
	{"Notebooks", 1500, []string{"Notebook", "Journal", "Sketchbook"}},
	{"Sunglasses", 8500, []string{"Sunglasses", "Shades", "Aviators"}},
	{"Watches", 18000, []string{"Watch", "Field Watch", "Chronograph"}},
}

var (
	productTypeMix = newMix(14, 9, 8, 5, 9, 7, 10, 8, 8, 7, 6, 4)
	adjectives     = []string{
		"Classic", "Everyday", "Heritage", "Organic", "Recycled", "Vintage", "Essential",
		"Lightweight", "Premium", "Relaxed", "Waxed", "Merino", "Canvas", "Alpine", "Coastal",
	}
	colours = []string{
		"Black", "White", "Navy", "Olive", "Sand", "Rust", "Forest", "Charcoal", "Sky", "Berry",
	}
	vendors = []string{
		"Northwind Supply", "Alder & Pine", "Kestrel Goods", "Harbor Lane", "Fieldnote Co.",
		"Copper Fox", "Meridian Works", "Little Otter",
	}
	vendorMix = newMix(20, 16, 14, 12, 12, 10, 9, 7)
)

// person is a name as shown and as it appears in an email address.
type person struct{ name, slug string }

var firstNames = []person{
	{"Ana", "ana"}, {"Ben", "ben"}, {"Chloé", "chloe"}, {"David", "david"}, {"Emma", "emma"},
	{"Farah", "farah"}, {"Gabriel", "gabriel"}, {"Hana", "hana"}, {"Isaac", "isaac"},
	{"Jun", "jun"}, {"Kofi", "kofi"}, {"Laura", "laura"}, {"Mateo", "mateo"}, {"Nora", "nora"},
	{"Olivia", "olivia"}, {"Priya", "priya"}, {"Quinn", "quinn"}, {"Rafael", "rafael"},
	{"Sofia", "sofia"}, {"Tomás", "tomas"}, {"Uma", "uma"}, {"Victor", "victor"},
	{"Wen", "wen"}, {"Ximena", "ximena"}, {"Yusuf", "yusuf"}, {"Zoe", "zoe"}, {"Liam", "liam"},
	{"Mia", "mia"}, {"Noah", "noah"}, {"Aisha", "aisha"}, {"Lucas", "lucas"}, {"Ingrid", "ingrid"},
}

var lastNames = []person{
	{"Smith", "smith"}, {"O'Neil", "oneil"}, {"García", "garcia"}, {"Nguyen", "nguyen"},
	{"Müller", "muller"}, {"Kowalski", "kowalski"}, {"Okafor", "okafor"}, {"Tanaka", "tanaka"},
	{"Rossi", "rossi"}, {"Johansson", "johansson"}, {"Patel", "patel"}, {"Dubois", "dubois"},
	{"Silva", "silva"}, {"Kim", "kim"}, {"Brown", "brown"}, {"Cohen", "cohen"}, {"Ali", "ali"},
	{"Hughes", "hughes"}, {"van Dijk", "vandijk"}, {"Moreau", "moreau"}, {"Chen", "chen"},
	{"Novak", "novak"}, {"Murphy", "murphy"}, {"Santos", "santos"},
}

// emailDomains are reserved for documentation (RFC 2606), so demo addresses
// can never reach a real person.
var emailDomains = []string{"example.com", "example.org", "example.net"}
