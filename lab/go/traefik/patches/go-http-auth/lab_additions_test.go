// Tests of lab patch 3 (lab_additions.go): run by the lab's traefik build before it builds traefik.
package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckSecret(t *testing.T) {
	// test.htpasswd's entries ({SHA}, two $apr1$, bcrypt $2y$) and their passwords, as v0.4.0's own basic test has them
	secrets := map[string][2]string{
		"sha":    {"{SHA}qvTGHdzF6KLavt4PO0gs2a6pQ00=", "hello"},
		"apr1":   {"$apr1$a0j62R97$mYqFkloXH0/UOaUnAiV2b0", "hello2"},
		"apr1b":  {"$apr1$JI4wh3am$AmhephVqLTUyAVpFQeHZC0", "topsecret"},
		"bcrypt": {"$2y$05$ih3C91zUBSTFcAh2mQnZYuob0UOZVEf16wl/ukgjDhjvj.xgM1WwS", "hello3"},
	}
	for name, s := range secrets {
		if !CheckSecret(s[1], s[0]) {
			t.Errorf("%s: the right password was refused", name)
		}
		if CheckSecret(s[1]+"x", s[0]) {
			t.Errorf("%s: a wrong password was accepted", name)
		}
	}
	if CheckSecret("hello", "hello") {
		t.Error("a plain-text secret was accepted as a hash")
	}
}

func TestRequireAuthStale(t *testing.T) {
	a := NewDigestAuthenticator("lab", func(user, realm string) string { return "" })
	w := httptest.NewRecorder()
	a.RequireAuthStale(w, httptest.NewRequest("GET", "/", nil))
	challenge := w.Header().Get("WWW-Authenticate")
	if w.Code != 401 || !strings.HasPrefix(challenge, `Digest realm="lab"`) || !strings.HasSuffix(challenge, "stale=true") {
		t.Fatalf("got %d %q", w.Code, challenge)
	}
	if len(a.clients) != 1 {
		t.Fatalf("the new nonce was not recorded: %d clients", len(a.clients))
	}
}
