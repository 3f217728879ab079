package config

import (
	"fmt"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// KeyError is one problem with one configuration key or environment
// variable. Load, Parse and Validate return every problem they find, each a
// *KeyError, joined with errors.Join: one per line. The message never holds
// a secret's value.
type KeyError struct {
	Key string // dotted key ("policy.max_targets", "people[2].slack") or environment variable
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// decoder turns the merged configuration map into a Config. The map comes
// from YAML (strings, ints, bools, lists, mappings) and from the environment
// (already typed by the env transform). Each bad key is one error; the rest
// of the config still decodes so that every problem is reported at once.
type decoder struct {
	unread bool // UnreadSecretFiles: a *_file is not read
	errs   []error
	failed []string // keys that did not decode; validation stays quiet about them
}

func (d *decoder) fail(key, format string, args ...any) {
	d.errs = append(d.errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
	d.failed = append(d.failed, key)
}

// describe names the YAML type of a value, never the value itself, so it is
// safe for secrets.
func describe(v any) string {
	switch v.(type) {
	case map[string]any, map[any]any:
		return "a mapping"
	case []any, []string:
		return "a list"
	case string:
		return "a string"
	case int, int64, uint64, int32, uint32, uint, int8, int16, uint8, uint16:
		return "an integer"
	case float64, float32:
		return "a number"
	case bool:
		return "a boolean"
	case time.Time:
		return "a timestamp"
	case nil:
		return "null"
	}
	return fmt.Sprintf("a %T", v)
}

// structure decodes a mapping into the struct v.
func (d *decoder) structure(key string, raw any, v reflect.Value) {
	if raw == nil {
		return
	}
	m, ok := raw.(map[string]any)
	if !ok {
		d.fail(key, "must be a mapping of keys, got %s", describe(raw))
		return
	}
	t := v.Type()
	known := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("koanf")
		known[name] = true
		child := joinKey(key, name)
		if secretOf(f) != notSecret {
			known[name+fileSuffix] = true
			if secret, ok := d.secretFile(child, m[name], m[name+fileSuffix]); ok {
				v.Field(i).SetString(secret)
				continue
			}
		}
		d.value(child, m[name], v.Field(i))
	}
	for _, k := range sortedKeys(m) {
		if !known[k] {
			d.fail(joinKey(key, k), "unknown key%s", hint(k, slices.Sorted(maps.Keys(known)), func(s string) string { return joinKey(key, s) }))
		}
	}
}

// secretFile handles the K / K_file pair of a secret: it reports whether
// the value was settled here (from the file, or as an error), returning the
// secret read from the file.
func (d *decoder) secretFile(key string, value, file any) (string, bool) {
	if file == nil {
		return "", false
	}
	name := key[strings.LastIndex(key, ".")+1:]
	if value != nil {
		d.fail(key, "set either %s or %s%s, not both", name, name, fileSuffix)
		return "", true
	}
	path, ok := file.(string)
	if !ok || path == "" {
		got := describe(file)
		if ok {
			got = "an empty string"
		}
		d.fail(key+fileSuffix, "must be a file path, got %s", got)
		d.failed = append(d.failed, key)
		return "", true
	}
	if d.unread {
		return UnreadSecret, true
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// The error names the path and the reason, never the content.
		d.fail(key+fileSuffix, "reading secret: %v", err)
		d.failed = append(d.failed, key)
		return "", true
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		d.fail(key+fileSuffix, "%s is empty", path)
		d.failed = append(d.failed, key)
		return "", true
	}
	return s, true
}

// value decodes one value of any supported type into v. A null or absent
// value leaves the default in place.
func (d *decoder) value(key string, raw any, v reflect.Value) {
	if raw == nil {
		return
	}
	t := v.Type()
	switch {
	case isDuration(t):
		switch x := raw.(type) {
		case time.Duration:
			v.SetInt(int64(x))
		case string:
			dur, err := time.ParseDuration(x)
			if err != nil {
				d.fail(key, "%q is not a duration such as 15s, 1h30m or 720h", x)
				return
			}
			v.SetInt(int64(dur))
		default:
			d.fail(key, "must be a duration such as 15s, 1h30m or 720h, got %s", describe(raw))
		}
	case t.Kind() == reflect.String:
		s, ok := scalarString(raw)
		if !ok {
			d.fail(key, "must be a string, got %s%s", describe(raw), quoteHint(raw))
			return
		}
		v.SetString(s)
	case t.Kind() == reflect.Int:
		n, ok := integer(raw)
		if !ok {
			d.fail(key, "must be an integer, got %s", describe(raw))
			return
		}
		v.SetInt(int64(n))
	case t.Kind() == reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			d.fail(key, "must be true or false, got %s", describe(raw))
			return
		}
		v.SetBool(b)
	case t.Kind() == reflect.Struct:
		d.structure(key, raw, v)
	case t.Kind() == reflect.Slice:
		d.list(key, raw, v)
	case t.Kind() == reflect.Map:
		d.mapping(key, raw, v)
	default:
		// Unreachable for the Config type; a new field kind needs a case.
		d.fail(key, "unsupported configuration type %s", t)
	}
}

// list decodes a YAML sequence. A list with a bad element keeps its default
// as a whole: half a list of approvers is worse than none.
func (d *decoder) list(key string, raw any, v reflect.Value) {
	items, ok := raw.([]any)
	if !ok {
		d.fail(key, "must be a list, got %s", describe(raw))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	before := len(d.errs)
	for i, item := range items {
		ik := fmt.Sprintf("%s[%d]", key, i)
		if item == nil {
			d.fail(ik, "must not be null")
			continue
		}
		d.value(ik, item, out.Index(i))
	}
	if len(d.errs) > before {
		d.failed = append(d.failed, key)
		return
	}
	v.Set(out)
}

// mapping decodes a YAML mapping into a Go map with string keys. Keys are
// checked by validation, which knows what each map may hold.
func (d *decoder) mapping(key string, raw any, v reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.fail(key, "must be a mapping, got %s", describe(raw))
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(m))
	if !v.IsNil() {
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(iter.Key(), iter.Value())
		}
	}
	for _, k := range sortedKeys(m) {
		ev := reflect.New(v.Type().Elem()).Elem()
		if m[k] == nil {
			d.fail(joinKey(key, k), "must not be null")
			continue
		}
		d.value(joinKey(key, k), m[k], ev)
		out.SetMapIndex(reflect.ValueOf(k), ev)
	}
	v.Set(out)
}

// scalarString accepts a string, or an integer written without quotes (a
// Discord id such as 4242), converted exactly.
func scalarString(raw any) (string, bool) {
	switch x := raw.(type) {
	case string:
		return x, true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	}
	return "", false
}

// quoteHint suggests quotes when YAML read a value as a number or a date
// that was meant as a string.
func quoteHint(raw any) string {
	switch raw.(type) {
	case float64, bool, time.Time:
		return " (put the value in quotes)"
	}
	return ""
}

func integer(raw any) (int, bool) {
	switch x := raw.(type) {
	case int:
		return x, true
	case int64:
		if x >= math.MinInt && x <= math.MaxInt {
			return int(x), true
		}
	case uint64:
		if x <= math.MaxInt {
			return int(x), true
		}
	}
	return 0, false
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// hint returns " (did you mean X?)" for the candidate closest to got, if
// one is close enough to be a typo.
func hint(got string, candidates []string, show func(string) string) string {
	best, bestDist := "", 0
	for _, c := range candidates {
		dist := levenshtein(strings.ToLower(got), strings.ToLower(c))
		if best == "" || dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if best == "" || bestDist > max(2, len(got)/4) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", show(best))
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
