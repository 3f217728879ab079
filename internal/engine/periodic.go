package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/countersign/countersign/internal/jobs"
	"github.com/countersign/countersign/internal/store"
)

// Periodic is a leader-only job on a cron schedule, such as the digest.
//
// The engine calls Run at most once per slot (a time the schedule fires)
// across replicas and restarts: the slot is claimed in the database before
// Run is called, and a claimed slot is never run again, even when Run
// failed or its replica died half-way. Each run is told about the last run
// that completed, so a crashed, failed or missed slot is covered by the
// next run rather than skipped. A new leader runs the latest slot at once
// if it has not run yet.
type Periodic struct {
	// Name identifies the job in the database; keep it stable.
	Name string
	// Schedule is a cron schedule: 5 fields (minute hour day-of-month month
	// day-of-week), or a descriptor (@daily, @hourly, @every 10m). @every
	// slots are aligned to multiples of the interval since the zero time,
	// so every replica computes the same slots.
	Schedule string
	// Location is the time zone the schedule is read in; nil means UTC.
	Location *time.Location
	// Run does the work of a slot. The mark it returns when it succeeds is
	// handed to the next run (PeriodicRun.Mark); a failed run's is dropped.
	Run func(ctx context.Context, r PeriodicRun) (mark int64, err error)
}

// PeriodicRun is one run of a Periodic.
type PeriodicRun struct {
	// Slot is the slot being run.
	Slot time.Time
	// Previous is the slot of the last run that completed; when none did,
	// the schedule's slot before Slot.
	Previous time.Time
	// Mark is the mark the last completed run returned, if Marked: how far
	// it got in something ordered, such as the audit log, so that this run
	// starts exactly there. When no run ever completed it is 0 and Marked:
	// nothing was covered. Runs that completed before marks were kept (an
	// upgrade) have none.
	Mark   int64
	Marked bool
}

// periodicLease is how many PeriodicTimeouts a running claim blocks the
// next slot: past that, its run cannot still be working (its context ended
// after one), so it crashed and the next slot covers it.
const periodicLease = 2

// periodicBusyRetry is when a slot whose predecessor is still running asks
// again. Only latency depends on it: the claim decides who runs.
const periodicBusyRetry = time.Second

// expirySweepName names the periodic job that runs the Expirer.
const expirySweepName = "expire_sweep"

// periodicJob is a Periodic with its parsed schedule.
type periodicJob struct {
	Periodic
	schedule river.PeriodicSchedule
}

func newPeriodicJob(p Periodic) (*periodicJob, error) {
	if p.Name == "" || p.Run == nil {
		return nil, errors.New("engine: a periodic job needs a Name and a Run")
	}
	s, err := parseSchedule(p.Schedule, p.Location)
	if err != nil {
		return nil, fmt.Errorf("engine: periodic job %q: %w", p.Name, err)
	}
	return &periodicJob{Periodic: p, schedule: s}, nil
}

// parseSchedule reads a cron schedule in loc (nil: UTC). A CRON_TZ= prefix
// in spec wins over loc.
func parseSchedule(spec string, loc *time.Location) (river.PeriodicSchedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	switch s := s.(type) {
	case *cron.SpecSchedule:
		if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") {
			if loc == nil {
				loc = time.UTC
			}
			s.Location = loc
		}
		return s, nil
	case cron.ConstantDelaySchedule:
		return everySchedule(s.Delay), nil
	}
	return nil, fmt.Errorf("schedule %q: unsupported kind %T", spec, s)
}

// everySchedule fires at the multiples of its interval since the zero time.
type everySchedule time.Duration

// Next returns the first multiple of the interval after t.
func (e everySchedule) Next(t time.Time) time.Time {
	d := time.Duration(e)
	return t.Truncate(d).Add(d)
}

// slotBefore returns the latest slot of s strictly before t, or the zero
// time when there is none within ten years.
func slotBefore(s river.PeriodicSchedule, t time.Time) time.Time {
	for back := time.Minute; back <= 10*366*24*time.Hour; back *= 2 {
		slot := s.Next(t.Add(-back))
		if slot.IsZero() {
			return slot // never fires
		}
		if !slot.Before(t) {
			continue
		}
		for {
			next := s.Next(slot)
			if !next.After(slot) || !next.Before(t) {
				return slot
			}
			slot = next
		}
	}
	return time.Time{}
}

// slotMargin covers River enqueuing a periodic job up to 100 ms before its
// time, and timer jitter after it.
const slotMargin = 200 * time.Millisecond

// periodicArgs is one run of a periodic job.
type periodicArgs struct {
	Name string    `json:"name"`
	Slot time.Time `json:"slot"`
}

// Kind implements river.JobArgs.
func (periodicArgs) Kind() string { return "countersign.periodic" }

// InsertOpts makes the run unique per slot; the slot claim in the database
// is what guarantees it.
func (periodicArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueuePeriodic, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// periodicConstructor names the slot River is enqueuing: the latest one at
// the time, so a new leader's start-up run covers a slot its predecessor
// missed.
func (e *Engine) periodicConstructor(pj *periodicJob) river.PeriodicJobConstructor {
	return func() (river.JobArgs, *river.InsertOpts) {
		slot := slotBefore(pj.schedule, e.now().Add(slotMargin))
		return periodicArgs{Name: pj.Name, Slot: slot.UTC()}, nil
	}
}

type periodicWorker struct {
	river.WorkerDefaults[periodicArgs]
	e *Engine
}

// Work runs the slot unless it was claimed before.
func (w *periodicWorker) Work(ctx context.Context, job *river.Job[periodicArgs]) error {
	pj, ok := w.e.periodic[job.Args.Name]
	if !ok {
		w.e.log.WarnContext(ctx, "periodic job is not configured here; dropping its run", "periodic", job.Args.Name)
		return nil
	}
	return w.e.runPeriodic(ctx, pj, job.Args.Slot)
}

// Timeout bounds one run.
func (w *periodicWorker) Timeout(*river.Job[periodicArgs]) time.Duration {
	return w.e.cfg.PeriodicTimeout
}

func (e *Engine) runPeriodic(ctx context.Context, pj *periodicJob, slot time.Time) error {
	if slot.IsZero() {
		return nil // a schedule that never fired
	}
	log := e.log.With("periodic", pj.Name, "slot", slot)
	now := e.now()
	last, claimed, err := e.store.ClaimPeriodic(ctx, pj.Name, slot, now, now.Add(-periodicLease*e.cfg.PeriodicTimeout))
	if errors.Is(err, store.ErrPeriodicBusy) {
		// The slot before is still running; this one starts where it ends.
		log.DebugContext(ctx, "waiting for the run of the slot before")
		return river.JobSnooze(periodicBusyRetry)
	}
	if err != nil {
		return err
	}
	if !claimed {
		log.DebugContext(ctx, "slot already claimed")
		return nil
	}
	run := PeriodicRun{Slot: slot, Previous: last.Slot, Mark: last.Mark, Marked: last.Marked}
	if run.Previous.IsZero() {
		// No run ever completed: nothing has been covered yet, whichever
		// slots were missed since the install.
		run.Previous, run.Mark, run.Marked = slotBefore(pj.schedule, slot), 0, true
	}
	mark, runErr := pj.Run(ctx, run)
	cause := ""
	if runErr != nil {
		cause = runErr.Error()
		log.ErrorContext(ctx, "periodic job failed; the next slot covers this one", "error", runErr)
	}
	wctx, cancel := detached(ctx)
	defer cancel()
	return e.store.FinishPeriodic(wctx, pj.Name, slot, cause, mark, e.now())
}

// sweepExpired has the Expirer expire every pending request past its TTL,
// and has each expired request rendered again. It keeps no mark.
func (e *Engine) sweepExpired(ctx context.Context, _ PeriodicRun) (int64, error) {
	ids, err := e.cfg.Expirer.ExpireDue(ctx)
	for _, id := range ids {
		e.notify.Changed(id)
	}
	return 0, err
}
