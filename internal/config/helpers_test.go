package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// testAuditKey is a valid audit.key for configs that are not about it.
const testAuditKey = "0123456789abcdef0123456789abcdef"

// withKey prefixes a YAML document with a valid audit: section.
func withKey(doc string) string {
	return "audit: {key: " + testAuditKey + "}\n" + doc
}

// problems returns the message of every problem in err, in order, checking
// that each is a *KeyError.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []string
	for _, e := range errs {
		var ke *KeyError
		if !errors.As(e, &ke) {
			t.Errorf("problem %q is a %T, want *KeyError", e, e)
		}
		out = append(out, e.Error())
	}
	if got, want := err.Error(), strings.Join(out, "\n"); got != want {
		t.Errorf("err.Error() = %q, want one problem a line: %q", got, want)
	}
	return out
}

// decodeOnly merges and decodes like Load without validating.
func decodeOnly(t *testing.T, doc string, environ []string) (*Config, []string) {
	t.Helper()
	c, _, errs, err := decodeSources(rawBytes(doc), "config", environ, false)
	if err != nil {
		t.Fatalf("decodeSources: %v", err)
	}
	return c, problems(t, errors.Join(errs...))
}

// valueAt returns the value at a dotted key, following struct fields and
// map keys.
func valueAt(t *testing.T, c *Config, key string) any {
	t.Helper()
	v := reflect.ValueOf(c).Elem()
	for name := range strings.SplitSeq(key, ".") {
		switch v.Kind() {
		case reflect.Struct:
			found := false
			for i := range v.NumField() {
				if v.Type().Field(i).Tag.Get("koanf") == name {
					v, found = v.Field(i), true
					break
				}
			}
			if !found {
				t.Fatalf("valueAt(%q): no field %q", key, name)
			}
		case reflect.Map:
			e := v.MapIndex(reflect.ValueOf(name))
			if !e.IsValid() {
				return nil
			}
			v = e
		default:
			t.Fatalf("valueAt(%q): %q inside a %s", key, name, v.Kind())
		}
	}
	return v.Interface()
}

// writeFile writes content to a new file in a test directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
