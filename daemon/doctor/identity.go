package doctor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ingestd/ingestd/storage/catalog"
)

// checkIdentity reports whether the daemon would start on the catalog in
// dir as the one identityFile records (catalog.CheckIdentity: identity
// file, MANIFEST, tables), without opening it. A catalog a running daemon
// holds is not checked (the daemon checked it at its start).
func checkIdentity(dir, identityFile string) Finding {
	if b, err := os.ReadFile(filepath.Join(dir, "LOCK")); err == nil {
		if pid := strings.TrimSpace(string(b)); pid != "" {
			if _, err := os.Stat("/proc/" + pid); err == nil {
				return Finding{Check: "catalog identity", Level: OK, Message: "held by a running daemon (pid " + pid + "), which checked it at its start"}
			}
		}
	}
	id, err := catalog.CheckIdentity(dir, identityFile)
	var ie *catalog.IdentityError
	switch {
	case errors.As(err, &ie):
		return Finding{Check: "catalog identity", Level: Fail, Message: err.Error(),
			Fix: "the daemon will not start on it (exit 65): restore a backup (move state_dir aside, `ingestd restore`) or `ingestd reset-catalog --yes` (new catalog id; the hub resets its cursor)"}
	case err != nil:
		return Finding{Check: "catalog identity", Level: Fail, Message: err.Error(), Fix: "give the ingestd user access to " + dir}
	case id == nil:
		return Finding{Check: "catalog identity", Level: OK, Message: identityFile + " does not exist yet (written from the catalog at the next start)"}
	}
	return Finding{Check: "catalog identity", Level: OK, Message: fmt.Sprintf("catalog %s of appliance %s, seq %d recorded in %s; MANIFEST and tables present", id.CatalogID, id.ApplianceID, id.LastSeq, identityFile)}
}
