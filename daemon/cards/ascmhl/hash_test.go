package ascmhl

import "testing"

// The reference implementation's published vectors for the 15 bytes
// "media-hash-list".
func TestHashVectors(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		want string
	}{
		{MD5, "9db0fc9f30f5ee70041a7538809e2858"},
		{XXH64, "584b2ea1974f2b7c"},
		{XXH3, "6d4cbd75905c81aa"},
		{XXH128, "61a67c014f703a456ee7a776fd8c06bd"},
		{SHA1, "7b57673ac5633937a55b59009ad0c57ee08188b7"}, // sha1sum
	} {
		t.Run(string(tc.f), func(t *testing.T) {
			got, err := HashBytes(tc.f, []byte("media-hash-list"))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("%s = %s, want %s", tc.f, got, tc.want)
			}
		})
	}
}

func TestC4RoundTrip(t *testing.T) {
	// The chain of the fixture scenario references generation 0001 by this id.
	id := "c43qQABrjeiU3kteaNFtgwufQRLKxgMJEZfNSj6LcZ8fKwB568U8As9eScRsnb64NfqiAYzjNUXs81tAxPB77PUThb"
	b, err := Decode(C4, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := Encode(C4, b); got != id {
		t.Fatalf("round trip: %s", got)
	}
	// c4 of empty input is a published constant of the C4 spec.
	empty, _ := HashBytes(C4, nil)
	if empty != "c459dsjfscH38cYeXXYogktxf4Cd9ibshE3BHUo6a58hBXmRQdZrAkZzsWcbWtDg5oQstpDuni4Hirj75GEmTc1sFT" {
		t.Fatalf("c4 of empty input = %s", empty)
	}
}
