package tenant

import (
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPassword(t *testing.T) {
	bc, err := HashPassword([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(bc)); err != nil || cost != bcrypt.DefaultCost {
		t.Errorf("bcrypt cost %d, %v", cost, err)
	}
	a2, err := HashPasswordArgon2id([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a2, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("argon2id hash %q", a2)
	}
	if again, _ := HashPasswordArgon2id([]byte("s3cret")); again == a2 {
		t.Error("two argon2id hashes share a salt")
	}
	for _, h := range []string{bc, a2, testHash(t, "s3cret")} {
		if _, err := parseHash(h); err != nil {
			t.Errorf("parseHash(%q): %v", h, err)
		}
		if !verify(h, []byte("s3cret")) {
			t.Errorf("verify(%q) refused the password", h)
		}
		for _, wrong := range []string{"", "s3cret ", "S3cret", "s3cre"} {
			if verify(h, []byte(wrong)) {
				t.Errorf("verify(%q, %q) accepted", h, wrong)
			}
		}
	}
	if _, err := HashPassword(make([]byte, 73)); err == nil {
		t.Error("bcrypt of 73 bytes accepted")
	}
}

func TestParseHashRefuses(t *testing.T) {
	good := testHash(t, "x")
	salt, key := "c2FsdHNhbHRzYWx0", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5" // 12 and 24 bytes
	const ok = "$argon2id$v=19$m=64,t=1,p=1$"
	if _, err := parseHash(ok + salt + "$" + key); err != nil {
		t.Fatalf("small valid argon2id: %v", err)
	}
	y := "$2y$" + good[4:]
	if _, err := parseHash(y); err != nil {
		t.Errorf("$2y$: %v", err)
	}
	huge, _ := bcrypt.GenerateFromPassword([]byte("x"), 4)
	huge = []byte(strings.Replace(string(huge), "$04$", "$31$", 1))
	for _, bad := range []string{
		"", "plain", "$1$abc$def", "$2x$" + good[4:], good[:59], good + "x",
		string(huge), // bcrypt cost 31: days per login
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=2000000,t=1,p=1$" + salt + "$" + key, // 2 GiB
		"$argon2id$v=19$m=64,t=17,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=17$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=01,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		ok + "c2FsdA$" + key,                      // 4-byte salt
		ok + salt + "$a2V5a2V5",                   // 6-byte key
		ok + salt + "$" + strings.Repeat("A", 88), // 66-byte key
		ok + salt + "$" + key + "==",
		ok + "!!!$" + key,
		ok + salt,
		ok + salt + "$" + key + "$x",
	} {
		if h, err := parseHash(bad); err == nil {
			t.Errorf("parseHash(%q) = %v, want an error", bad, h)
		}
		if verify(bad, []byte("x")) {
			t.Errorf("verify(%q) accepted", bad)
		}
	}
}
