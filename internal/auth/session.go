package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "fluoro_session"

// CSRFHeader must be present on state-changing requests authenticated by the
// session cookie. A cross-site form or fetch cannot set a custom header
// without a CORS preflight, which Fluoro never grants, so its presence proves
// the request came from Fluoro's own pages.
const CSRFHeader = "X-Fluoro-Client"

// ErrCSRF means a cookie-authenticated request that changes state did not
// come from Fluoro's own pages.
var ErrCSRF = errors.New("cross-site request refused")

// Sessions issues and checks stateless session cookies: the user id and an
// expiry, signed with HMAC-SHA256. Nothing is stored on the server, so any
// replica with the same key accepts them; changing the key logs everyone out.
type Sessions struct {
	key []byte
	TTL time.Duration
	Now func() time.Time
}

// NewSessions derives the cookie-signing key from a server secret, so the
// same secret can sign other things (file links) without the two ever
// being interchangeable.
func NewSessions(secret []byte) *Sessions {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("fluoro session cookie v1"))
	return &Sessions{key: m.Sum(nil), TTL: 30 * 24 * time.Hour, Now: time.Now}
}

// Issue returns a cookie value for the user, valid for TTL.
func (s *Sessions) Issue(userID int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(userID))
	binary.BigEndian.PutUint64(b[8:], uint64(s.Now().Add(s.TTL).Unix()))
	return base64.RawURLEncoding.EncodeToString(b[:]) + "." + base64.RawURLEncoding.EncodeToString(s.sign(b[:]))
}

func (s *Sessions) sign(b []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(b)
	return m.Sum(nil)
}

// Verify returns the user id of a valid, unexpired cookie value.
func (s *Sessions) Verify(v string) (int64, error) {
	payload, sig, ok := strings.Cut(v, ".")
	b, err1 := base64.RawURLEncoding.DecodeString(payload)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if !ok || err1 != nil || err2 != nil || len(b) != 16 || !hmac.Equal(mac, s.sign(b)) {
		return 0, fmt.Errorf("%w: bad session cookie: log in again with the link the server printed", ErrUnauthenticated)
	}
	if exp := int64(binary.BigEndian.Uint64(b[8:])); s.Now().Unix() >= exp {
		return 0, fmt.Errorf("%w: session expired: log in again with the link the server printed", ErrUnauthenticated)
	}
	return int64(binary.BigEndian.Uint64(b[:8])), nil
}

// SetCookie sets the session cookie for the user: HttpOnly, SameSite=Lax,
// Secure when the request came over TLS.
func (s *Sessions) SetCookie(w http.ResponseWriter, r *http.Request, userID int64) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: s.Issue(userID), Path: "/",
		MaxAge: int(s.TTL / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	})
}

// ClearCookie logs the browser out.
func ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// CheckCSRF refuses a state-changing request (anything but GET, HEAD and
// OPTIONS) that lacks CSRFHeader or that the browser marks as coming from
// another site (Sec-Fetch-Site, or an Origin whose host is not ours).
func CheckCSRF(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if r.Header.Get(CSRFHeader) == "" {
		return fmt.Errorf("%w: a request authenticated by the session cookie must send the %s header", ErrCSRF, CSRFHeader)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("%w: Sec-Fetch-Site is %q", ErrCSRF, site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return fmt.Errorf("%w: Origin %q is not this server", ErrCSRF, o)
		}
	}
	return nil
}
