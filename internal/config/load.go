package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	kyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"go.yaml.in/yaml/v3"
)

// Option adjusts how Load, Parse and Validate judge a configuration.
type Option func(*options)

type options struct {
	insecureAuditKey bool
	unreadSecrets    bool
}

// AllowInsecureAuditKey lets audit.key be empty, shorter than 32 bytes,
// weak or a placeholder.
// It exists for countersign demo, which has no secrets to load and signs its
// throwaway audit log with a key it generates for the run; serve must never
// use it, because a weak key lets anyone with database access rewrite the
// audit log undetected.
func AllowInsecureAuditKey() Option {
	return func(o *options) { o.insecureAuditKey = true }
}

// Load reads the YAML file at path (none when path is ""), applies the
// COUNTERSIGN_… variables of environ (KEY=value, as os.Environ returns) and
// the *_file secrets, and validates the result. Every problem is reported,
// each a *KeyError on its own line; a missing or malformed file is a single
// error that wraps the cause (errors.Is(err, fs.ErrNotExist) works).
//
// Precedence, lowest first: Default(), the file, the environment. A secret
// set in the environment, directly or as …_FILE, replaces the file's value
// and the file's *_file key; setting both forms in one place is an error.
// An environment variable with an empty value is ignored, as if unset.
func Load(path string, environ []string, opts ...Option) (*Config, error) {
	if path == "" {
		return load(nil, "", environ, opts)
	}
	return load(file.Provider(path), path, environ, opts)
}

// Parse is Load for a YAML document held in memory, such as the demo's
// embedded default configuration.
func Parse(data []byte, environ []string, opts ...Option) (*Config, error) {
	return load(rawBytes(data), "config", environ, opts)
}

func load(src koanf.Provider, name string, environ []string, opts []Option) (*Config, error) {
	o := newOptions(opts)
	c, failed, errs, err := decodeSources(src, name, environ, o.unreadSecrets)
	if err != nil {
		return nil, err
	}
	errs = append(errs, c.validate(o, failed)...)
	if o.unreadSecrets {
		errs = slices.DeleteFunc(errs, aboutSecret)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// UnreadSecretFiles loads a configuration without its secrets, for a
// command that needs none of them, such as countersign slack manifest,
// which is run before the tokens it leads to exist. A secret's *_file is
// not read: the secret is set to UnreadSecret instead, so that everything
// that depends on whether a secret is set (which platforms and providers
// are enabled) validates as it will with the file; the problems of the
// secrets themselves (a value missing, too weak, of the wrong shape) are
// not reported. The result must not be used to call anyone.
func UnreadSecretFiles() Option {
	return func(o *options) { o.unreadSecrets = true }
}

// UnreadSecret is the value of every secret named by a *_file key when
// loading with UnreadSecretFiles.
const UnreadSecret = "(not read)"

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// decodeSources merges the file and the environment with koanf and decodes
// the result over Default(). It returns the keys that could not be decoded
// and one error per problem; err is set only when the file cannot be read or
// parsed at all.
func decodeSources(src koanf.Provider, name string, environ []string, unread bool) (c *Config, failed []string, errs []error, err error) {
	ko := koanf.New(".")
	if src != nil {
		if err := ko.Load(src, yamlParser{}); err != nil {
			return nil, nil, nil, fmt.Errorf("loading %s: %w", name, err)
		}
	}

	envK, envErrs, failed := loadEnv(environ)
	for _, e := range envErrs {
		errs = append(errs, e)
	}
	// A secret from the environment replaces the file's value whichever
	// form (K or K_file) each uses; otherwise the merged map would hold both
	// and look like a conflict the user never wrote.
	leaves(true, func(l leaf) {
		if l.Secret == notSecret || !l.EnvOK {
			return
		}
		if envK.Exists(l.Key) || envK.Exists(l.Key+fileSuffix) {
			ko.Delete(l.Key)
			ko.Delete(l.Key + fileSuffix)
		}
	})
	if err := ko.Merge(envK); err != nil {
		return nil, nil, nil, fmt.Errorf("merging environment: %w", err)
	}

	c = Default()
	d := &decoder{unread: unread}
	d.structure("", ko.Raw(), reflect.ValueOf(c).Elem())
	return c, append(failed, d.failed...), append(errs, d.errs...), nil
}

// loadEnv reads the COUNTERSIGN_ variables of environ through koanf's env
// provider. Each variable is looked up in envTable and its value converted
// to the key's type there, so that a bad value is reported under the
// variable's own name.
func loadEnv(environ []string) (*koanf.Koanf, []*KeyError, []string) {
	table := envTable()
	var errs []*KeyError
	var failed []string
	seen := map[string]string{} // key → variable, to catch K and K_FILE together
	ko := koanf.New(".")
	p := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			e, ok := table[name]
			if !ok {
				errs = append(errs, &KeyError{Key: name, Msg: "unknown environment variable" +
					hint(name, slices.Sorted(maps.Keys(table)), func(s string) string { return s })})
				return "", nil
			}
			if value == "" {
				return "", nil
			}
			v, err := envValue(e, value)
			if err != nil {
				errs = append(errs, &KeyError{Key: name, Msg: err.Error()})
				failed = append(failed, e.Key)
				return "", nil
			}
			base := strings.TrimSuffix(e.Key, fileSuffix)
			if other, dup := seen[base]; dup && e.Key != table[other].Key {
				first, second := other, name
				if first > second {
					first, second = second, first
				}
				errs = append(errs, &KeyError{Key: first, Msg: fmt.Sprintf("set either %s or %s, not both", first, second)})
				return "", nil
			}
			seen[base] = name
			return e.Key, v
		},
	})
	if err := ko.Load(p, nil); err != nil {
		// The env provider reads a slice and cannot fail; kept so that a
		// future version that can is not ignored.
		errs = append(errs, &KeyError{Key: "environment", Msg: err.Error()})
	}
	slices.SortFunc(errs, func(a, b *KeyError) int { return cmp.Compare(a.Key, b.Key) })
	return ko, errs, failed
}

// envValue converts a variable's text to the type of its key. Lists are
// comma-separated; spaces around items and empty items are dropped.
func envValue(e envEntry, value string) (any, error) {
	switch {
	case e.File:
		return value, nil
	case isDuration(e.Type):
		d, err := time.ParseDuration(value)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 15s, 1h30m or 720h", value)
		}
		return d, nil
	case e.Type.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", value)
		}
		return n, nil
	case e.Type.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", value)
		}
		return b, nil
	case e.Type.Kind() == reflect.Slice:
		var out []any
		for item := range strings.SplitSeq(value, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	return value, nil
}

// yamlParser is koanf's YAML parser with one check first: the document must
// be a mapping. Without it, a file that holds only a token (a secret file
// passed as --config by mistake) would come back in yaml's "cannot unmarshal
// !!str `…`" error, secret included.
type yamlParser struct{}

// Unmarshal parses a YAML mapping.
func (yamlParser) Unmarshal(b []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) > 0 {
		top := doc.Content[0]
		if top.Kind != yaml.MappingNode && !(top.Kind == yaml.ScalarNode && top.Tag == "!!null") {
			return nil, errors.New("the document must be a mapping of keys such as http:, store:, policy:")
		}
	}
	return kyaml.Parser().Unmarshal(b)
}

// Marshal encodes a configuration map as YAML.
func (yamlParser) Marshal(m map[string]any) ([]byte, error) { return kyaml.Parser().Marshal(m) }

// rawBytes is a koanf provider for a document held in memory.
type rawBytes []byte

// ReadBytes returns the document.
func (b rawBytes) ReadBytes() ([]byte, error) { return b, nil }

// Read is not supported: the document needs a parser.
func (rawBytes) Read() (map[string]any, error) {
	return nil, errors.New("raw bytes need a parser")
}

// aboutSecret reports whether err is a problem of a secret itself: its key
// is a secret's, or its *_file's, or its environment variable's.
func aboutSecret(err error) bool {
	var ke *KeyError
	if !errors.As(err, &ke) {
		return false
	}
	secret := false
	leaves(true, func(l leaf) {
		if l.Secret == notSecret {
			return
		}
		for _, k := range []string{l.Key, l.Key + fileSuffix} {
			secret = secret || ke.Key == k || ke.Key == EnvName(k)
		}
	})
	return secret
}
