//go:build long

package engine

// propertyRuns is how many random requests each property is tried on.
const propertyRuns = 10_000

// crashTrials is how many random kills TestCrashRecovery tries.
const crashTrials = 100
