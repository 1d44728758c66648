// Lab patch 2 (lab/components/ingress.mjs): lego v5.4.1's generated factory imports about 200 DNS providers, and the
// cloud SDKs of seven of them are refused by the module proxy (akamai edgegrid v13, huaweicloud, nrdcg oci-go-sdk,
// sacloud, ucloud, yandex-cloud). The lab issues its own certificates and never runs ACME, so this factory keeps two
// providers that need no SDK (exec, httpreq); any other name is refused with lego's own message.

package dns

import (
	"fmt"

	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/providers/dns/exec"
	"github.com/go-acme/lego/v5/providers/dns/httpreq"
)

// NewDNSChallengeProviderByName Factory for DNS providers.
func NewDNSChallengeProviderByName(name string) (challenge.Provider, error) {
	switch name {
	case "exec":
		return exec.NewDNSProvider()
	case "httpreq":
		return httpreq.NewDNSProvider()
	default:
		return nil, fmt.Errorf("unrecognized DNS provider: %s", name)
	}
}
