package main

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/jmqx/jmqx/admin"
	"github.com/jmqx/jmqx/tenant"
)

// checkPassword fails the test unless hash is the bcrypt hash of pw.
func checkPassword(t *testing.T, hash, pw string) {
	t.Helper()
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)); err != nil {
		t.Errorf("hash %q does not match password %q: %v", hash, pw, err)
	}
}

func TestUserAddPasswordStdin(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	r := mustRun(t, f, "s3cret pass\r\nignored\n", "user", "add", "a", "bob", "--password-stdin")
	users := f.spec(t, "a").Auth.Users
	if len(users) != 1 || users[0].Name != "bob" || len(users[0].PasswordHashes) != 1 {
		t.Fatalf("users = %+v", users)
	}
	checkPassword(t, users[0].PasswordHashes[0], "s3cret pass")
	if !strings.Contains(r.stdout, "user bob added to tenant a") || r.stderr != "" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// Without a final newline, and --json prints nothing.
	r = mustRun(t, f, "pw2", "user", "--json", "add", "--password-stdin", "a", "carol")
	checkPassword(t, f.spec(t, "a").Auth.Users[1].PasswordHashes[0], "pw2")
	if r.stdout != "" {
		t.Errorf("--json printed %q", r.stdout)
	}
	mustFail(t, f, "pw", `user "bob" already exists`, "user", "add", "a", "bob", "--password-stdin")
}

func TestUserAddPasswordFlagWarns(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	// With the real tenant.HashPassword.
	r := runClientEnv(t, f, "", appEnv{}, "user", "add", "a", "bob", "--password", "pw")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stderr, "warning: --password is visible to other users") {
		t.Errorf("no warning on stderr: %q", r.stderr)
	}
	checkPassword(t, f.spec(t, "a").Auth.Users[0].PasswordHashes[0], "pw")
}

func TestUserAddRefusesBadPasswords(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a"})
	mustFail(t, f, "\n", "the password is empty", "user", "add", "a", "bob", "--password-stdin")
	mustFail(t, f, "", "the password is empty", "user", "add", "a", "bob", "--password-stdin")
	mustFail(t, f, "", "the password is empty", "user", "add", "a", "bob", "--password", "")
	mustFail(t, f, strings.Repeat("x", 73), "at most 72", "user", "add", "a", "bob", "--password-stdin")
	mustFail(t, f, "pw", "give either --password or --password-stdin", "user", "add", "a", "bob", "--password-stdin", "--password", "x")
	// The test's standard input is no terminal.
	mustFail(t, f, "pw\n", "standard input is not a terminal: give the password with --password-stdin", "user", "add", "a", "bob")
	if len(f.writes) != 0 {
		t.Errorf("wrote %v", f.writes)
	}
}

func TestUserRotate(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a", Auth: tenant.Auth{Users: []tenant.User{{Name: "bob", PasswordHashes: []string{testHash}}}}})
	r := mustRun(t, f, "new\n", "user", "rotate", "a", "bob", "--password-stdin")
	hashes := f.spec(t, "a").Auth.Users[0].PasswordHashes
	if len(hashes) != 2 || hashes[0] != testHash {
		t.Fatalf("hashes after rotate = %v", hashes)
	}
	checkPassword(t, hashes[1], "new")
	if !strings.Contains(r.stdout, "the old ones still work") {
		t.Errorf("rotate printed %q", r.stdout)
	}
	r = mustRun(t, f, "newer\n", "user", "rotate", "a", "bob", "--password-stdin", "--revoke-old")
	hashes = f.spec(t, "a").Auth.Users[0].PasswordHashes
	if len(hashes) != 1 {
		t.Fatalf("hashes after rotate --revoke-old = %v", hashes)
	}
	checkPassword(t, hashes[0], "newer")
	if !strings.Contains(r.stdout, "the old ones are revoked") {
		t.Errorf("rotate printed %q", r.stdout)
	}
	mustFail(t, f, "pw\n", `user "eve" not found`, "user", "rotate", "a", "eve", "--password-stdin")
}

func TestUserListAndRemove(t *testing.T) {
	t.Parallel()
	f := newFakeAdmin(tenant.Spec{Name: "a", Auth: tenant.Auth{Users: []tenant.User{
		{Name: "bob", PasswordHashes: []string{testHash, testHash}},
		{Name: "eve", PasswordHashes: []string{testHash}},
	}}})
	r := mustRun(t, f, "", "user", "list", "a")
	if got := strings.Fields(r.stdout); !slices.Equal(got, []string{"NAME", "CREDENTIALS", "bob", "2", "eve", "1"}) {
		t.Errorf("user list:\n%s", r.stdout)
	}
	r = mustRun(t, f, "", "user", "list", "a", "--json")
	var users []admin.UserView
	checkJSON(t, r.stdout, &users)
	if len(users) != 2 || users[0] != (admin.UserView{Name: "bob", Credentials: 2}) {
		t.Errorf("user list --json = %+v", users)
	}
	if strings.Contains(r.stdout, "$2a$") {
		t.Error("user list shows hashes")
	}
	r = mustRun(t, f, "", "user", "remove", "a", "eve")
	if !strings.Contains(r.stdout, "user eve removed from tenant a") || len(f.spec(t, "a").Auth.Users) != 1 {
		t.Errorf("remove printed %q; users %v", r.stdout, f.spec(t, "a").Auth.Users)
	}
	mustFail(t, f, "", `user "eve" not found`, "user", "remove", "a", "eve")
	mustFail(t, f, "", `tenant "b" not found`, "user", "list", "b")
	r = mustRun(t, newFakeAdmin(tenant.Spec{Name: "e"}), "", "user", "list", "e", "--json")
	if r.stdout != "[]\n" {
		t.Errorf("empty user list --json = %q", r.stdout)
	}
}

func TestUserRotateRevokeOldAloneKeepsTheNewest(t *testing.T) {
	f := newFakeAdmin(tenant.Spec{Name: "a", Auth: tenant.Auth{Users: []tenant.User{{Name: "bob", PasswordHashes: []string{"h1", "h2"}}}}})
	res := runClient(t, f, "", "user", "rotate", "a", "bob", "--revoke-old")
	if res.err != nil {
		t.Fatalf("rotate --revoke-old: %v", res.err)
	}
	if got := f.spec(t, "a").Auth.Users[0].PasswordHashes; len(got) != 1 || got[0] != "h2" {
		t.Fatalf("hashes %v, want [h2]", got)
	}
	if !strings.Contains(res.stdout, "keeps only its newest password") {
		t.Errorf("output %q", res.stdout)
	}
}
