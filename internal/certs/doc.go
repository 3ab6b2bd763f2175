// Package certs is the servers' TLS configuration: a certificate and key
// read from PEM files and read again when the files change (so a rotated
// certificate is served without a restart), and, for mutual TLS, the
// certificate authorities whose client certificates are accepted.
package certs
