// Package jobs defines the arguments of Countersign's River jobs. The store
// enqueues them inside its transactions and the engine works them, so they
// live apart from both.
package jobs

import (
	"github.com/riverqueue/river"
)

// Execute runs one approved request to a final state.
type Execute struct {
	RequestID int64 `json:"request_id"`
}

// Kind implements river.JobArgs.
func (Execute) Kind() string { return "countersign.execute" }

// InsertOpts makes the job unique per request: approving twice, or two
// approvers reaching quorum at once, never enqueues a second execution.
func (Execute) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueueExecute,
		MaxAttempts: 1000, // polling is done by snoozing; attempts are cheap
		UniqueOpts:  river.UniqueOpts{ByArgs: true},
	}
}

// Queue names.
const (
	QueueExecute  = "execute"
	QueuePeriodic = "periodic"
)
