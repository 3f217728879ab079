package config

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Redacted returns the effective configuration as YAML, every key present,
// with each secret that is set replaced by "REDACTED" (store.url keeps
// everything but its password). `countersign config check` prints it.
// Loading the output gives the same configuration apart from the secrets.
func (c *Config) Redacted() ([]byte, error) {
	n, err := yamlNode(reflect.ValueOf(*c), notSecret)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding config: %w", err)
	}
	return buf.Bytes(), nil
}

// redact returns a copy of c with its secrets replaced as Redacted prints
// them.
func (c *Config) redact() *Config {
	r := *c
	leaves(false, func(l leaf) {
		// Secrets are top-level struct fields, never inside lists or maps.
		if l.Secret == notSecret {
			return
		}
		f := fieldByKey(reflect.ValueOf(&r).Elem(), l.Key)
		f.SetString(redactString(f.String(), l.Secret))
	})
	return &r
}

// fieldByKey finds the struct field a dotted key of plain struct fields
// names.
func fieldByKey(v reflect.Value, key string) reflect.Value {
	for name := range strings.SplitSeq(key, ".") {
		t := v.Type()
		for i := range t.NumField() {
			if t.Field(i).Tag.Get("koanf") == name {
				v = v.Field(i)
				break
			}
		}
	}
	return v
}

func redactString(s string, kind secretKind) string {
	switch {
	case s == "" || kind == notSecret:
		return s
	case kind == secretURL:
		return RedactURL(s)
	}
	return redactedValue
}

// RedactURL returns a store URL fit to print or log: the password in the
// user info and the password and sslpassword parameters are replaced by
// REDACTED. A URL that does not parse is replaced whole, since where its
// password ends cannot be told.
func RedactURL(raw string) string {
	if strings.HasPrefix(raw, "sqlite:") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Fragment != "" || u.RawFragment != "" || strings.Contains(raw, "#") {
		return redactedValue
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redactedValue)
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return redactedValue
		}
		changed := false
		for k := range q {
			if isPasswordParam(k) {
				q[k] = []string{redactedValue}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	return u.String()
}

// yamlNode renders v in struct field order, with the koanf key names, so
// that the output is the same shape as the input Load reads.
func yamlNode(v reflect.Value, secret secretKind) (*yaml.Node, error) {
	t := v.Type()
	if isDuration(t) {
		return scalar(formatDuration(time.Duration(v.Int())))
	}
	switch t.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := range t.NumField() {
			f := t.Field(i)
			val, err := yamlNode(v.Field(i), secretOf(f))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Tag.Get("koanf")}, val)
		}
		return n, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Len() == 0 || t.Elem().Kind() != reflect.Struct {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			item, err := yamlNode(v.Index(i), notSecret)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, item)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			val, err := yamlNode(v.MapIndex(k), notSecret)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k.String()}, val)
		}
		return n, nil
	case reflect.String:
		return scalar(redactString(v.String(), secret))
	default:
		return scalar(v.Interface())
	}
}

func scalar(value any) (*yaml.Node, error) {
	n := &yaml.Node{}
	if err := n.Encode(value); err != nil {
		return nil, fmt.Errorf("encoding %T: %w", value, err)
	}
	return n, nil
}
