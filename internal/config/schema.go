package config

import (
	"reflect"
	"strings"
	"time"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/providers"
)

// EnvPrefix starts every environment variable Load reads.
const EnvPrefix = "COUNTERSIGN_"

// redactedValue replaces every secret in Redacted output.
const redactedValue = "REDACTED"

// fileSuffix turns a secret key into the key naming a file that holds it.
const fileSuffix = "_file"

func isDuration(t reflect.Type) bool { return t == reflect.TypeFor[time.Duration]() }

// secretKind says how a field is secret, from its `secret` tag.
type secretKind int

const (
	notSecret   secretKind = iota
	secretValue            // the whole value is secret
	secretURL              // a URL whose password is secret
)

func secretOf(f reflect.StructField) secretKind {
	switch f.Tag.Get("secret") {
	case "true":
		return secretValue
	case "url":
		return secretURL
	}
	return notSecret
}

// leaf is one settable key: a scalar, a list of scalars, or one entry of a
// map of scalars.
type leaf struct {
	Key    string              // dotted key; placeholders such as <action> in the reference
	Type   reflect.Type        // the Go type of the value
	Field  reflect.StructField // the field that declares it (for a map entry, the map)
	Owner  reflect.Type        // the struct that declares Field
	Secret secretKind
	EnvOK  bool // false for keys inside lists of records (people:)
}

// mapKeys returns the keys a map field with the given `keys` tag may hold.
// They are enumerable, which is what lets environment variables address them
// without guessing where a name's underscores were hyphens or colons.
func mapKeys(tag string) []string {
	var out []string
	switch tag {
	case "actions":
		for _, a := range approvals.Actions() {
			out = append(out, string(a))
		}
	case "policy-actions":
		for _, a := range approvals.Actions() {
			out = append(out, string(a))
		}
		for _, v := range policyVariants() {
			out = append(out, string(approvals.ActionPurgeMail)+":"+v)
		}
	}
	return out
}

// mapPlaceholder is how the reference shows a map's key.
func mapPlaceholder(tag string) string {
	if tag == "policy-actions" {
		return "<action>[:<variant>]"
	}
	return "<action>"
}

// policyVariants returns the purge-mail variants policy.actions may name:
// every provider's --action values, then "permanent"
// (approvals.PermanentPurgeKey), which covers the permanent ones of all
// providers.
func policyVariants() []string {
	var out []string
	for _, p := range []string{providers.Graph, providers.TMCAS} {
		out = append(out, approvals.MailActions(p)...)
	}
	_, permanent, _ := strings.Cut(approvals.PermanentPurgeKey, ":")
	return append(out, permanent)
}

// leaves walks the Config type and calls fn for every settable key. With
// expand, maps yield one leaf per enumerable key (the environment table);
// without, one leaf with a placeholder (the reference).
func leaves(expand bool, fn func(leaf)) {
	walkStruct(reflect.TypeFor[Config](), "", expand, true, fn)
}

func walkStruct(t reflect.Type, prefix string, expand, envOK bool, fn func(leaf)) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := joinKey(prefix, f.Tag.Get("koanf"))
		l := leaf{Key: key, Type: f.Type, Field: f, Owner: t, Secret: secretOf(f), EnvOK: envOK}
		switch {
		case f.Type.Kind() == reflect.Struct:
			walkStruct(f.Type, key, expand, envOK, fn)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			walkStruct(f.Type.Elem(), key+"[]", expand, false, fn)
		case f.Type.Kind() == reflect.Map:
			tag := f.Tag.Get("keys")
			names := []string{mapPlaceholder(tag)}
			if expand {
				names = mapKeys(tag)
			}
			for _, name := range names {
				k := joinKey(key, name)
				if f.Type.Elem().Kind() == reflect.Struct {
					walkStruct(f.Type.Elem(), k, expand, envOK, fn)
					continue
				}
				fn(leaf{Key: k, Type: f.Type.Elem(), Field: f, Owner: t, Secret: secretOf(f), EnvOK: envOK})
			}
		default:
			fn(l)
		}
	}
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// EnvName returns the environment variable that sets a dotted key:
// COUNTERSIGN_ followed by the key upper-cased, with dots and the hyphens
// and colons inside map keys written as underscores.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_", ":", "_").Replace(key))
}

// envEntry is what one environment variable sets.
type envEntry struct {
	Key  string       // dotted key, with the _file suffix for a secret file
	Type reflect.Type // the type of the value; string for a file path
	File bool         // the variable names a file holding the secret Key names
}

// envTable maps every accepted environment variable to its key. It is
// derived from the struct, so the many ways underscores could be read
// ("slack_bot.token" or "slack.bot_token") never need guessing: only one of
// them is a key.
func envTable() map[string]envEntry {
	t := map[string]envEntry{}
	leaves(true, func(l leaf) {
		if !l.EnvOK {
			return
		}
		t[EnvName(l.Key)] = envEntry{Key: l.Key, Type: l.Type}
		if l.Secret != notSecret {
			t[EnvName(l.Key+fileSuffix)] = envEntry{Key: l.Key + fileSuffix, Type: reflect.TypeFor[string](), File: true}
		}
	})
	return t
}
