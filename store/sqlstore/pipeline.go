package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pipeline sends the one-row statements of concurrent conversations (their
// steps, the agents' notices) to PostgreSQL together: those that queue up
// while earlier ones are on the wire go in one round trip, as one implicit
// transaction (pgx's batch, one Sync). N steps then pay one network exchange,
// one transaction and one commit (one WAL flush) instead of N; on this
// path PostgreSQL spends more on each statement's round trip and commit
// than on its rows. Nothing waits for a batch to fill: a statement that
// finds a sender free goes at once, alone, so a quiet server sees no delay.
//
// A batch is all or nothing: if PostgreSQL refuses any of its statements,
// it rolls back the others too, and each is then run again on its own, so
// one statement's failure is reported to its caller only. If the round
// trip itself fails (a lost connection: committed or not, nobody knows),
// every caller gets the error, as a statement sent alone would; nothing is
// run twice. Statements of different chats touch different rows (the
// chat's lease keeps one turn per conversation in flight), but a batch
// holds all their locks until it commits: should two batches still lock
// rows in opposite orders, PostgreSQL refuses one after deadlock_timeout
// and its statements are re-run alone.
type pipeline struct {
	db      *sql.DB
	queue   chan *pipelined
	stop    chan struct{}
	senders sync.WaitGroup
	// closing guards closed: a statement is queued under its read lock, so
	// none is queued after close drained the queue.
	closing sync.RWMutex
	closed  bool
	// roundTrip reports each statement sent: alone (it had the round trip)
	// or riding along behind another in the same batch.
	roundTrip func(sent time.Duration, failed, alone bool)
}

// pipelined is one statement waiting for its batch, and its caller's
// destination for the row.
type pipelined struct {
	ctx   context.Context
	query string
	vars  []any
	dest  []any
	done  chan error
}

// pipelineSenders is how many batches may be on the wire at once: while
// one is, the next gathers what arrives. Two keep PostgreSQL busy on both
// of this machine's kind of cores without splitting batches thinly.
const pipelineSenders = 2

// pipelineMaxBatch bounds a batch: past a few dozen statements one round
// trip saves little more, and a batch's latency is its slowest statement.
const pipelineMaxBatch = 32

// pipelineTimeout bounds a batch whose callers set no deadline.
const pipelineTimeout = 30 * time.Second

func newPipeline(db *sql.DB, roundTrip func(time.Duration, bool, bool)) *pipeline {
	p := &pipeline{db: db, queue: make(chan *pipelined, 4*pipelineMaxBatch), stop: make(chan struct{}),
		roundTrip: roundTrip}
	for range pipelineSenders {
		p.senders.Go(p.send)
	}
	return p
}

// close stops the senders once the batches on the wire are done.
// Statements still queued are answered with an error.
func (p *pipeline) close() {
	p.closing.Lock()
	already := p.closed
	p.closed = true
	p.closing.Unlock()
	if already {
		return
	}
	close(p.stop)
	p.senders.Wait()
	for {
		select {
		case r := <-p.queue:
			r.done <- errPipelineClosed
		default:
			return
		}
	}
}

// errPipelineClosed is what a statement gets once the DB is closed:
// unavailable, as database/sql would say.
var errPipelineClosed = fmt.Errorf("sql: the store is closed: %w", sql.ErrConnDone)

// row runs one statement returning at most one row (PostgreSQL
// placeholders, bound already) in the next batch and scans it into dest.
// A missing row is sql.ErrNoRows, as with database/sql.
func (p *pipeline) row(ctx context.Context, query string, vars []any, dest ...any) error {
	r := &pipelined{ctx: ctx, query: query, vars: vars, dest: dest, done: make(chan error, 1)}
	if err := p.enqueue(ctx, r); err != nil {
		return err
	}
	// A caller whose context ends first still waits for its batch (which
	// ends once every caller's context has: batchContext), so that dest is
	// not written after it returned.
	return <-r.done
}

func (p *pipeline) enqueue(ctx context.Context, r *pipelined) error {
	p.closing.RLock()
	defer p.closing.RUnlock()
	if p.closed {
		return errPipelineClosed
	}
	select {
	case p.queue <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send takes whatever is queued, up to pipelineMaxBatch, and sends it.
func (p *pipeline) send() {
	for {
		var first *pipelined
		select {
		case first = <-p.queue:
		case <-p.stop:
			return
		}
		batch := []*pipelined{first}
	gather:
		for len(batch) < pipelineMaxBatch {
			select {
			case r := <-p.queue:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		p.run(batch)
	}
}

// run sends a batch and answers each of its statements.
func (p *pipeline) run(batch []*pipelined) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		p.alone(live[0])
		return
	}
	errs, rolledBack, err := p.together(live)
	switch {
	case rolledBack:
		// PostgreSQL refused a statement (or the commit) and rolled the
		// batch back: each statement again on its own, so each caller
		// gets its own answer and the others' effects are kept. They go
		// at once, on connections of their own, rather than one after
		// another behind a sender.
		var again sync.WaitGroup
		for _, r := range live {
			again.Go(func() { p.alone(r) })
		}
		again.Wait()
	case err != nil:
		// The round trip itself failed (connection lost, deadline): the
		// batch may have committed or not. Running it again could apply
		// it twice, so every caller gets the error, as a lost connection
		// gives a statement sent alone; a redelivered update then finds
		// its step applied (ErrApplied).
		for _, r := range live {
			r.done <- err
		}
	default:
		for i, r := range live {
			r.done <- errs[i]
		}
	}
}

// alone runs one statement in a round trip of its own.
func (p *pipeline) alone(r *pipelined) {
	began := time.Now()
	err := p.db.QueryRowContext(r.ctx, r.query, r.vars...).Scan(r.dest...)
	p.roundTrip(time.Since(began), err != nil && !errors.Is(err, sql.ErrNoRows), true)
	r.done <- err
}

// together sends the batch in one round trip. When the batch committed
// it returns each statement's own outcome: nil or sql.ErrNoRows.
// rolledBack says PostgreSQL refused a statement or the commit, so
// nothing of the batch was kept; err alone, that the round trip failed
// with the outcome unknown to the caller (a row that fails to scan, a
// programming error, also ends pgx's reading of the batch that way,
// although the server commits it).
func (p *pipeline) together(batch []*pipelined) (errs []error, rolledBack bool, err error) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	defer conn.Close()
	errs = make([]error, len(batch))
	began := time.Now()
	err = conn.Raw(func(driverConn any) error {
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("pipeline: a %T is not a pgx connection", driverConn)
		}
		var b pgx.Batch
		for _, r := range batch {
			b.Queue(r.query, r.vars...)
		}
		results := c.Conn().SendBatch(ctx, &b)
		for i, r := range batch {
			errs[i] = results.QueryRow().Scan(r.dest...)
			if errors.Is(errs[i], pgx.ErrNoRows) {
				errs[i] = sql.ErrNoRows
			}
			rolledBack = rolledBack || refused(errs[i])
		}
		// Closing reads up to the Sync: the implicit transaction's commit.
		closeErr := results.Close()
		rolledBack = rolledBack || refused(closeErr)
		return closeErr
	})
	took := time.Since(began)
	for i := range batch {
		p.roundTrip(took, rolledBack || err != nil || errs[i] != nil && !errors.Is(errs[i], sql.ErrNoRows), i == 0)
	}
	if rolledBack {
		return nil, true, err
	}
	if err != nil {
		return nil, false, err
	}
	return errs, false, nil
}

// refused reports an error PostgreSQL itself sent: in an implicit
// transaction it aborts the transaction, so nothing of the batch commits.
func refused(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

// batchContext bounds a batch by the latest deadline among its
// statements' contexts (pipelineTimeout when none has one, or if sooner):
// every caller waits for the batch, and one caller's short deadline must
// not fail the others' statements. It ends early once every caller's
// context has ended: nobody waits for the answer any more.
func batchContext(batch []*pipelined) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range batch {
		d, ok := r.ctx.Deadline()
		if !ok {
			latest = time.Time{}
			break
		}
		if d.After(latest) {
			latest = d
		}
	}
	if limit := time.Now().Add(pipelineTimeout); latest.IsZero() || latest.After(limit) {
		latest = limit
	}
	ctx, cancel := context.WithDeadline(context.Background(), latest)
	var waiting atomic.Int32
	waiting.Store(int32(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, r := range batch {
		stops[i] = context.AfterFunc(r.ctx, func() {
			if waiting.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
