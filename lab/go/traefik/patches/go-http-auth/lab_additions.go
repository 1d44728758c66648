// Lab patch 3 (lab/components/ingress.mjs): traefik v3.7.13 replaces github.com/abbot/go-http-auth with the fork
// github.com/containous/go-http-auth, which the module proxy refuses. abbot's v0.4.0 is served and lacks only the two
// functions traefik's basicAuth and digestAuth middlewares call; they are added here, built on v0.4.0's own code.
package auth

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// CheckSecret reports whether password matches secret, an htpasswd entry's hash ({SHA}, $apr1$/MD5-crypt, bcrypt),
// compared the way BasicAuth.CheckAuth compares them.
func CheckSecret(password, secret string) bool {
	compare := compareFuncs[0].compare
	for _, cmp := range compareFuncs[1:] {
		if strings.HasPrefix(secret, cmp.prefix) {
			compare = cmp.compare
			break
		}
	}
	return compare([]byte(secret), []byte(password)) == nil
}

// RequireAuthStale answers like RequireAuth, with stale=true in the challenge: the client's credentials were right but
// its nonce is no longer known, so it may retry with the new nonce without asking the user again (RFC 7616, 3.3).
func (a *DigestAuth) RequireAuthStale(w http.ResponseWriter, r *http.Request) {
	a.mutex.Lock()
	if len(a.clients) > a.ClientCacheSize+a.ClientCacheTolerance {
		a.Purge(a.ClientCacheTolerance * 2)
	}
	nonce := RandomKey()
	a.clients[nonce] = &digest_client{nc: 0, last_seen: time.Now().UnixNano()}
	a.mutex.Unlock()
	w.Header().Set(contentType, a.Headers.V().UnauthContentType)
	w.Header().Set(a.Headers.V().Authenticate,
		fmt.Sprintf(`Digest realm="%s", nonce="%s", opaque="%s", algorithm="MD5", qop="auth", stale=true`,
			a.Realm, nonce, a.Opaque))
	w.WriteHeader(a.Headers.V().UnauthCode)
	w.Write([]byte(a.Headers.V().UnauthResponse))
}
