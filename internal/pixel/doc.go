// Package pixel is the HTTP endpoint that a shop's Shopify web pixel posts
// its customer events to: POST /v1/pixel/{shop_id}?key=PIXEL_KEY with one
// event, or an array of them, as analytics.subscribe hands them over (product_viewed,
// product_added_to_cart, product_removed_from_cart, checkout_completed,
// collection_viewed, search_submitted, page_viewed). Each event becomes
// user_interactions rows through the same validation (package ingest) and
// write path (the store's) as the gRPC IngestInteractions:
//
//   - product ids come from the event's data, one row for a cart event and
//     one per product for a checkout (two variants of a product are one
//     purchase of it), as Shopify gids (gid://shopify/Product/123);
//     page-level events make one row without a product;
//   - the customer is the checkout's order customer, else the customerId the
//     snippet adds from init.data.customer; anonymous visitors have none,
//     but every row keeps the event's clientId, so that the first row with
//     both links the browser to its customer (FEATURES.md 1.4);
//   - what the kernel does not read but a later feature may (the variant,
//     quantity and price of cart and checkout lines, a search's query) is
//     kept as the row's metadata: see metadata.go;
//   - device_type comes from the user agent, and from the screen and
//     viewport sizes when the agent does not say;
//   - page_type is the kind of page the event happened on, and for a product
//     view the page the product was reached from (an internal referrer);
//   - referrer_type classifies document.referrer against the shop's own
//     host, with paid and email traffic recognised by UTM parameters;
//   - view_duration of a product view is the time until the same client's
//     next event: see session.go for the state this takes.
//
// A request must carry the shop's pixel key in its URL (?key=, a public key
// with the pixel scope only) and come from an origin its key, or the
// server's policy in cors.go, allows; token buckets bound the requests of
// each client address and each shop (admit.go, limit.go). Bodies are
// bounded; every error answer is JSON that says what to fix.
package pixel
