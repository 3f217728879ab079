package bot

import (
	"strconv"
	"strings"

	"github.com/countersign/countersign/approvals"
)

// Button values and dialog ids: "<verb>:<request id>:<short hash>". The
// hash binds a click to the content the card showed; adapters pass the
// value back untouched and the bot trusts nothing in it but its shape.
const (
	verbApprove = "approve"
	verbDeny    = "deny"
)

// buttonValue is the value of the verb button on r's card.
func buttonValue(verb string, r approvals.Request) string {
	return verb + ":" + strconv.FormatInt(r.ID, 10) + ":" + approvals.ShortHash(r.Hash)
}

// parseValue splits a button value or dialog id, or returns errBadButton.
func parseValue(v string) (verb string, id int64, hash string, err error) {
	parts := strings.Split(v, ":")
	if len(parts) != 3 || (parts[0] != verbApprove && parts[0] != verbDeny) {
		return "", 0, "", errBadButton
	}
	id, err = strconv.ParseInt(parts[1], 10, 64)
	if err != nil || id <= 0 || parts[2] == "" {
		return "", 0, "", errBadButton
	}
	return parts[0], id, parts[2], nil
}
