//go:build !long

package engine

// propertyRuns is how many random requests each property is tried on;
// -tags long, which CI sets, raises it to 10,000.
const propertyRuns = 1_000

// crashTrials is how many random kills TestCrashRecovery tries; -tags
// long raises it to 100.
const crashTrials = 20
