package cloud

import (
	"slices"
	"testing"

	"github.com/conndiag/conndiag/internal/i18n"
	"github.com/conndiag/conndiag/internal/verdict"
)

// The provider IDs live here (what DMI shows) and in the verdict catalog
// (how the provider is called, where its console opens a port): the two
// lists and the console texts agree.
func TestProviderIDsAgree(t *testing.T) {
	ids := []string{AWS, Google, Azure, Alibaba, Tencent, Huawei, Oracle, DigitalOcean, Hetzner, Vultr, Linode}
	slices.Sort(ids)
	if got := verdict.CloudIDs(); !slices.Equal(got, ids) {
		t.Errorf("verdict knows providers %v, cloud recognises %v", got, ids)
	}
	en, err := i18n.Texts("en")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, ok := en["server.place."+id]; !ok {
			t.Errorf("no console place text server.place.%s", id)
		}
	}
}
