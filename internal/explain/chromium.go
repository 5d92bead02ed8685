package explain

import "bytes"

// netError is one entry of Chromium's net/base/net_error_list.h: the name
// (net::ERR_NAME), the number, Chromium's own one-line description, and the
// signal it is here ("" for errors that say nothing about reaching a server).
type netError struct {
	num     int
	sig     string
	meaning string
}

// chromiumErrors holds the entries of net_error_list.h (chromium/chromium,
// read 2026) that a connection can end with: system (0-99), connection
// (100-199), certificate (200-299), HTTP (300-399) and DNS (800-899) errors.
var chromiumErrors = map[string]netError{
	"FAILED":                   {-2, "", "A generic failure occurred."},
	"ABORTED":                  {-3, "", "An operation was aborted (due to user action)."},
	"TIMED_OUT":                {-7, "timeout", "An operation timed out."},
	"ACCESS_DENIED":            {-10, "", "Permission to access a resource, other than the network, was denied."},
	"INSUFFICIENT_RESOURCES":   {-12, "fd_exhausted", "There were not enough resources to complete the operation."},
	"SOCKET_NOT_CONNECTED":     {-15, "reset", "The socket is not connected."},
	"BLOCKED_BY_CLIENT":        {-20, "blocked_ext", "The client chose to block the request."},
	"NETWORK_CHANGED":          {-21, "aborted", "The network changed."},
	"BLOCKED_BY_ADMINISTRATOR": {-22, "blocked", "The request was blocked by the URL block list configured by the domain administrator."},
	"BLOCKED_BY_RESPONSE":      {-27, "blocked", "The request failed because the response was delivered along with requirements which are not met."},
	"CLEARTEXT_NOT_PERMITTED":  {-29, "blocked", "The request was blocked by system policy disallowing some or all cleartext requests."},
	"BLOCKED_BY_CSP":           {-30, "blocked", "The request was blocked by a Content Security Policy."},
	"BLOCKED_BY_ORB":           {-32, "blocked", "The request was blocked by CORB or ORB."},

	"CONNECTION_CLOSED":                         {-100, "closed_early", "A connection was closed (corresponding to a TCP FIN)."},
	"CONNECTION_RESET":                          {-101, "reset", "A connection was reset (corresponding to a TCP RST)."},
	"CONNECTION_REFUSED":                        {-102, "refused", "A connection attempt was refused."},
	"CONNECTION_ABORTED":                        {-103, "aborted", "A connection timed out as a result of not receiving an ACK for data sent."},
	"CONNECTION_FAILED":                         {-104, "connect_failed", "A connection attempt failed."},
	"NAME_NOT_RESOLVED":                         {-105, "dns_nx", "The host name could not be resolved."},
	"INTERNET_DISCONNECTED":                     {-106, "net_unreach", "The Internet connection has been lost."},
	"SSL_PROTOCOL_ERROR":                        {-107, "tls_eof", "An SSL protocol error occurred."},
	"ADDRESS_INVALID":                           {-108, "invalid_arg", "The IP address or port number is invalid."},
	"ADDRESS_UNREACHABLE":                       {-109, "host_unreach", "The IP address is unreachable: usually no route to the host or network."},
	"SSL_CLIENT_AUTH_CERT_NEEDED":               {-110, "tls_client_cert", "The server requested a client certificate for SSL client authentication."},
	"TUNNEL_CONNECTION_FAILED":                  {-111, "proxy_failed", "A tunnel connection through the proxy could not be established."},
	"NO_SSL_VERSIONS_ENABLED":                   {-112, "tls_obsolete", "No SSL protocol versions are enabled."},
	"SSL_VERSION_OR_CIPHER_MISMATCH":            {-113, "tls_obsolete", "The client and server don't support a common SSL protocol version or cipher suite."},
	"SSL_RENEGOTIATION_REQUESTED":               {-114, "tls_generic", "The server requested a renegotiation (rehandshake)."},
	"PROXY_AUTH_UNSUPPORTED":                    {-115, "proxy_failed", "The proxy requested authentication (for tunnel establishment) with an unsupported method."},
	"BAD_SSL_CLIENT_AUTH_CERT":                  {-117, "tls_bad_cert", "The SSL handshake failed because of a bad or missing client certificate."},
	"CONNECTION_TIMED_OUT":                      {-118, "timeout", "A connection attempt timed out."},
	"HOST_RESOLVER_QUEUE_TOO_LARGE":             {-119, "dns_again", "There are too many pending DNS resolves."},
	"SOCKS_CONNECTION_FAILED":                   {-120, "proxy_failed", "Failed establishing a connection to the SOCKS proxy server for a target host."},
	"SOCKS_CONNECTION_HOST_UNREACHABLE":         {-121, "proxy_failed", "The SOCKS proxy server failed establishing connection to the target host because that host is unreachable."},
	"ALPN_NEGOTIATION_FAILED":                   {-122, "tls_handshake", "The request to negotiate an alternate protocol failed."},
	"SSL_NO_RENEGOTIATION":                      {-123, "tls_generic", "The peer sent an SSL no_renegotiation alert message."},
	"SSL_DECOMPRESSION_FAILURE_ALERT":           {-125, "tls_obsolete", "An SSL peer sent a fatal decompression_failure alert."},
	"SSL_BAD_RECORD_MAC_ALERT":                  {-126, "tls_generic", "An SSL peer sent a fatal bad_record_mac alert."},
	"PROXY_AUTH_REQUESTED":                      {-127, "proxy_failed", "The proxy requested authentication (for tunnel establishment)."},
	"PROXY_CONNECTION_FAILED":                   {-130, "proxy_failed", "Could not create a connection to the proxy server."},
	"MANDATORY_PROXY_CONFIGURATION_FAILED":      {-131, "proxy_failed", "A mandatory proxy configuration could not be used."},
	"PRECONNECT_MAX_SOCKET_LIMIT":               {-133, "fd_exhausted", "The max socket limit for the socket pool was hit while preconnecting."},
	"SSL_CLIENT_AUTH_PRIVATE_KEY_ACCESS_DENIED": {-134, "tls_client_cert", "The permission to use the SSL client certificate's private key was denied."},
	"SSL_CLIENT_AUTH_CERT_NO_PRIVATE_KEY":       {-135, "tls_client_cert", "The SSL client certificate has no private key."},
	"PROXY_CERTIFICATE_INVALID":                 {-136, "proxy_failed", "The certificate presented by the HTTPS Proxy was invalid."},
	"NAME_RESOLUTION_FAILED":                    {-137, "dns_failure", "An error occurred when trying to do a name resolution (DNS)."},
	"NETWORK_ACCESS_DENIED":                     {-138, "not_permitted", "Permission to access the network was denied (most likely a firewall)."},
	"TEMPORARILY_THROTTLED":                     {-139, "", "The request throttler module cancelled this request to avoid DDOS."},
	"HTTPS_PROXY_TUNNEL_RESPONSE_REDIRECT":      {-140, "proxy_failed", "A request to create an SSL tunnel through the HTTPS proxy received a 302 response."},
	"SSL_CLIENT_AUTH_SIGNATURE_FAILED":          {-141, "tls_client_cert", "Unable to sign the CertificateVerify data with the client certificate's private key."},
	"MSG_TOO_BIG":                               {-142, "", "The message was too large for the transport."},
	"WS_PROTOCOL_ERROR":                         {-145, "ws_abnormal", "WebSocket protocol error: a malformed frame or other protocol violation."},
	"ADDRESS_IN_USE":                            {-147, "bind_inuse", "Attempting to bind an address that is already in use."},
	"SSL_HANDSHAKE_NOT_COMPLETED":               {-148, "tls_generic", "An operation failed because the SSL handshake has not completed."},
	"SSL_BAD_PEER_PUBLIC_KEY":                   {-149, "tls_cert", "SSL peer's public key is invalid."},
	"SSL_PINNED_KEY_NOT_IN_CERT_CHAIN":          {-150, "tls_cert", "The certificate didn't match the built-in public key pins for the host name."},
	"CLIENT_AUTH_CERT_TYPE_UNSUPPORTED":         {-151, "tls_client_cert", "Server request for client certificate did not contain any types we support."},
	"SSL_DECRYPT_ERROR_ALERT":                   {-153, "tls_handshake", "An SSL peer sent a fatal decrypt_error alert."},
	"WS_THROTTLE_QUEUE_TOO_LARGE":               {-154, "", "There are too many pending WebSocketJob instances."},
	"SSL_SERVER_CERT_CHANGED":                   {-156, "tls_cert", "The SSL server certificate changed in a renegotiation."},
	"SSL_UNRECOGNIZED_NAME_ALERT":               {-159, "tls_cert_name", "The SSL server sent a fatal unrecognized_name alert."},
	"SSL_CLIENT_AUTH_CERT_BAD_FORMAT":           {-164, "tls_client_cert", "Failed to import a client certificate from the platform store into the SSL library."},
	"ICANN_NAME_COLLISION":                      {-166, "dns_failure", "Resolving a hostname gave 127.0.53.53, ICANN's name-collision address."},
	"SSL_SERVER_CERT_BAD_FORMAT":                {-167, "tls_cert", "The SSL server presented a certificate which could not be decoded."},
	"SSL_OBSOLETE_CIPHER":                       {-172, "tls_obsolete", "The SSL server required an unsupported cipher suite that has since been removed."},
	"WS_UPGRADE":                                {-173, "", "A WebSocket handshake succeeded and the request was upgraded."},
	"NO_BUFFER_SPACE":                           {-176, "no_buffers", "No socket buffer space is available."},
	"SSL_CLIENT_AUTH_NO_COMMON_ALGORITHMS":      {-177, "tls_client_cert", "No common signature algorithms between the client certificate's key and the server."},
	"EARLY_DATA_REJECTED":                       {-178, "", "TLS 1.3 early data was rejected by the server."},
	"WRONG_VERSION_ON_EARLY_DATA":               {-179, "", "TLS 1.3 early data was offered, but the server responded with TLS 1.2 or earlier."},
	"TLS13_DOWNGRADE_DETECTED":                  {-180, "proxy_failed", "TLS 1.3 downgrade detected: possibly a buggy TLS-terminating proxy."},
	"SSL_KEY_USAGE_INCOMPATIBLE":                {-181, "tls_cert", "The server's certificate has a keyUsage extension incompatible with the key exchange."},
	"INVALID_ECH_CONFIG_LIST":                   {-182, "tls_generic", "The ECHConfigList fetched over DNS cannot be parsed."},
	"ECH_NOT_NEGOTIATED":                        {-183, "tls_generic", "ECH was enabled, but the server was unable to decrypt the encrypted ClientHello."},
	"ECH_FALLBACK_CERTIFICATE_INVALID":          {-184, "tls_cert", "ECH failed and the server's certificate for the public name was not valid."},

	"CERT_COMMON_NAME_INVALID":          {-200, "tls_cert_name", "The server responded with a certificate whose common name did not match the host name."},
	"CERT_DATE_INVALID":                 {-201, "tls_cert_expired", "The certificate appears to either not yet be valid or to have expired."},
	"CERT_AUTHORITY_INVALID":            {-202, "tls_cert_trust", "The certificate is signed by an authority that is not trusted."},
	"CERT_CONTAINS_ERRORS":              {-203, "tls_cert", "The server responded with a certificate that contains errors."},
	"CERT_NO_REVOCATION_MECHANISM":      {-204, "tls_cert", "The certificate has no mechanism for determining if it is revoked."},
	"CERT_UNABLE_TO_CHECK_REVOCATION":   {-205, "tls_cert", "Revocation information for the certificate is not available."},
	"CERT_REVOKED":                      {-206, "tls_cert", "The server responded with a certificate that has been revoked."},
	"CERT_INVALID":                      {-207, "tls_cert", "The server responded with a certificate that is invalid."},
	"CERT_WEAK_SIGNATURE_ALGORITHM":     {-208, "tls_cert_weak", "The certificate is signed using a weak signature algorithm."},
	"CERT_NON_UNIQUE_NAME":              {-210, "tls_cert_name", "The host name specified in the certificate is not unique."},
	"CERT_WEAK_KEY":                     {-211, "tls_cert_weak", "The certificate contains a weak key (e.g. a too-small RSA key)."},
	"CERT_NAME_CONSTRAINT_VIOLATION":    {-212, "tls_cert", "The certificate claimed DNS names that violate name constraints."},
	"CERT_VALIDITY_TOO_LONG":            {-213, "tls_cert", "The certificate's validity period is too long."},
	"CERTIFICATE_TRANSPARENCY_REQUIRED": {-214, "tls_cert", "Certificate Transparency was required, and the server did not comply."},
	"CERT_SYMANTEC_LEGACY":              {-215, "tls_cert_trust", "The certificate chained to a legacy Symantec root that is no longer trusted."},
	"CERT_KNOWN_INTERCEPTION_BLOCKED":   {-217, "tls_cert_trust", "The certificate is known to be used for interception by an entity other than the device owner."},

	"INVALID_URL":                   {-300, "", "The URL is invalid."},
	"DISALLOWED_URL_SCHEME":         {-301, "blocked", "The scheme of the URL is disallowed."},
	"UNKNOWN_URL_SCHEME":            {-302, "", "The scheme of the URL is unknown."},
	"TOO_MANY_REDIRECTS":            {-310, "", "Attempting to load an URL resulted in too many redirects."},
	"UNSAFE_REDIRECT":               {-311, "blocked", "Attempting to load an URL resulted in an unsafe redirect."},
	"UNSAFE_PORT":                   {-312, "unsafe_port", "Attempting to load an URL with an unsafe port number."},
	"INVALID_RESPONSE":              {-320, "invalid_response", "The server's response was invalid."},
	"INVALID_CHUNKED_ENCODING":      {-321, "invalid_response", "Error in chunked transfer encoding."},
	"UNEXPECTED_PROXY_AUTH":         {-323, "proxy_failed", "The response was 407 (Proxy Authentication Required), yet the request was not sent to a proxy."},
	"EMPTY_RESPONSE":                {-324, "closed_early", "The server closed the connection without sending any data."},
	"RESPONSE_HEADERS_TOO_BIG":      {-325, "invalid_response", "The headers section of the response is too large."},
	"PAC_SCRIPT_FAILED":             {-327, "proxy_failed", "The evaluation of the PAC script failed."},
	"CONTENT_DECODING_FAILED":       {-330, "", "Content decoding of the response body failed."},
	"NO_SUPPORTED_PROXIES":          {-336, "proxy_failed", "There are no supported proxies in the provided list."},
	"HTTP2_PROTOCOL_ERROR":          {-337, "invalid_response", "There is an HTTP/2 protocol error."},
	"CONTENT_LENGTH_MISMATCH":       {-354, "reset", "The response body was shorter than its Content-Length when the connection closed."},
	"INCOMPLETE_CHUNKED_ENCODING":   {-355, "reset", "The chunked response never sent its terminating zero-length chunk before the connection closed."},
	"QUIC_PROTOCOL_ERROR":           {-356, "", "There is a QUIC protocol error."},
	"RESPONSE_HEADERS_TRUNCATED":    {-357, "closed_early", "The HTTP headers were truncated by an EOF."},
	"QUIC_HANDSHAKE_FAILED":         {-358, "", "The QUIC crypto handshake failed."},
	"HTTP_1_1_REQUIRED":             {-365, "", "HTTP_1_1_REQUIRED error code received on HTTP/2 session."},
	"INVALID_HTTP_RESPONSE":         {-370, "invalid_response", "The server was expected to return an HTTP/1.x response, but did not."},
	"HTTP_RESPONSE_CODE_FAILURE":    {-379, "", "The server returned a non-2xx HTTP response code."},
	"INCONSISTENT_IP_ADDRESS_SPACE": {-383, "blocked", "The IP address space of the remote endpoint differed from the previous observed value."},
	"CACHED_IP_ADDRESS_SPACE_BLOCKED_BY_LOCAL_NETWORK_ACCESS_POLICY": {-384, "blocked", "The IP address space of the cached endpoint is blocked by the local network access check."},
	"INSECURE_RESPONSE": {-501, "tls_cert", "The server's response was insecure (e.g. there was a cert error)."},

	"DNS_MALFORMED_RESPONSE":  {-800, "dns_failure", "DNS resolver received a malformed response."},
	"DNS_SERVER_REQUIRES_TCP": {-801, "dns_failure", "DNS server requires TCP."},
	"DNS_SERVER_FAILED":       {-802, "dns_again", "DNS server failed (format error, server failure, not implemented or refused)."},
	"DNS_TIMED_OUT":           {-803, "dns_again", "DNS transaction timed out."},
	"DNS_CACHE_MISS":          {-804, "dns_failure", "The entry was not found in cache or other local sources."},
	"DNS_SEARCH_EMPTY":        {-805, "dns_failure", "Suffix search list rules prevent resolution of the given host name."},
	"DNS_SORT_ERROR":          {-806, "dns_failure", "Failed to sort addresses according to RFC3484."},
	"DNS_SECURE_RESOLVER_HOSTNAME_RESOLUTION_FAILED": {-808, "dns_failure", "Failed to resolve the hostname of a DNS-over-HTTPS server."},
	"DNS_NAME_HTTPS_ONLY":                            {-809, "blocked", "DNS identified the request as disallowed for insecure connection (http/ws)."},
	"DNS_REQUEST_CANCELLED":                          {-810, "", "All DNS requests associated with this job have been cancelled."},
	"DNS_NO_MATCHING_SUPPORTED_ALPN":                 {-811, "dns_failure", "The HTTPS record did not resolve with ALPN values of supported protocols."},
}

var chromiumByNumber = func() map[int]string {
	m := make(map[int]string, len(chromiumErrors))
	for name, e := range chromiumErrors {
		m[e.num] = name
	}
	return m
}()

// chromiumError reads net::ERR_NAME (or ERR_NAME on an error page).
func chromiumError(l []byte, at, end int) (string, string) {
	if at > 0 && isAlnum(l[at-1]) {
		return "", ""
	}
	i := end
	for i < len(l) && (l[i] >= 'A' && l[i] <= 'Z' || l[i] >= '0' && l[i] <= '9' || l[i] == '_') {
		i++
	}
	e, ok := chromiumErrors[string(l[end:i])]
	if !ok || e.sig == "" {
		return "", ""
	}
	return e.sig, chromiumNote(string(l[end:i]), e)
}

func chromiumNote(name string, e netError) string {
	return "net::ERR_" + name + " (" + itoa(e.num) + "): " + e.meaning
}

// chromiumErrorNumber reads a NetLog "net_error": -102 or "net_error -102".
func chromiumErrorNumber(l []byte, at, end int) (string, string) {
	i := end
	for i < len(l) && (l[i] == '"' || l[i] == ':' || l[i] == ' ' || l[i] == '=') {
		i++
	}
	n, _, ok := number(l, i)
	if !ok {
		return "", ""
	}
	name, ok := chromiumByNumber[n]
	if !ok || chromiumErrors[name].sig == "" {
		return "", ""
	}
	return chromiumErrors[name].sig, chromiumNote(name, chromiumErrors[name])
}

var _ = bytes.Index
