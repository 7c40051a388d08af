package storage

// State keys of the card service's records. daemon/cards/cardsvc writes
// them (its card records and clip documents, the JSON of GET /v1/cards and
// GET /v1/clips/{id}); other stages, such as the hub pusher uploading a
// clip.json, read them through these names rather than by spelling the
// card service's keys.
const (
	ClipStatePrefix = "clips/"      // + clip id: the clip document
	CardStatePrefix = "cards/card/" // + card key: the card record
)

// ClipStateKey is the state key of clip id's document.
func ClipStateKey(id string) string { return ClipStatePrefix + id }

// CardStateKey is the state key of the record of the card with that key
// (filesystem UUID and content fingerprint).
func CardStateKey(key string) string { return CardStatePrefix + key }
