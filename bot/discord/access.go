package discord

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/countersign/countersign/approvals"
	"github.com/countersign/countersign/bot"
)

// codeUnknownMember is Discord's error code for a user not in the guild.
const codeUnknownMember = 10007

// Person implements bot.Access: the people: entry whose discord id is u's.
func (a *Adapter) Person(_ context.Context, u bot.User) (string, error) {
	if name, ok := a.people[u.ID]; ok && u.Platform == bot.PlatformDiscord {
		return name, nil
	}
	return "", fmt.Errorf("discord user %s: %w", u.ID, approvals.ErrUnknownPerson)
}

// MayRequest implements bot.Access from the role ids Discord sent with the
// interaction.
func (a *Adapter) MayRequest(_ context.Context, u bot.User) (bool, error) {
	if u.Restricted || u.Platform != bot.PlatformDiscord {
		return false, nil
	}
	return len(a.cfg.RequesterRoles) == 0 || intersects(u.Roles, a.cfg.RequesterRoles), nil
}

// MayApprove implements bot.Access from the role ids Discord sent with the
// interaction.
func (a *Adapter) MayApprove(_ context.Context, u bot.User) (bool, error) {
	if u.Restricted || u.Platform != bot.PlatformDiscord {
		return false, nil
	}
	return intersects(u.Roles, a.cfg.ApproverRoles), nil
}

// Approvers implements bot.Access: the people whose Discord account is a
// guild member with an approver role now. Members are looked up with the
// bot token and cached for a minute.
func (a *Adapter) Approvers(ctx context.Context) ([]string, error) {
	var out []string
	for id, name := range a.people {
		m, err := a.member(ctx, id)
		if err != nil {
			return nil, err
		}
		if m.present && !m.restricted && intersects(m.roles, a.cfg.ApproverRoles) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

func intersects(a, b []string) bool {
	return slices.ContainsFunc(a, func(x string) bool { return slices.Contains(b, x) })
}

type memberEntry struct {
	present    bool // false: not a member of the guild
	restricted bool
	roles      []string
	at         time.Time
}

type memberCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]memberEntry
}

// member returns user id's guild membership, from the cache when fresh.
func (a *Adapter) member(ctx context.Context, id string) (memberEntry, error) {
	now := a.now()
	c := a.members
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < c.ttl {
		return e, nil
	}
	var m *discordgo.Member
	err := a.call(ctx, "guild member", func(opts ...discordgo.RequestOption) (err error) {
		m, err = a.s.GuildMember(a.cfg.GuildID, id, opts...)
		return err
	})
	switch {
	case err == nil:
		e = memberEntry{present: true, roles: m.Roles, restricted: m.Pending || (m.User != nil && m.User.Bot), at: now}
	case apiCode(err) == codeUnknownMember || apiStatus(err) == http.StatusNotFound:
		e = memberEntry{at: now}
	default:
		return memberEntry{}, err
	}
	c.mu.Lock()
	c.entries[id] = e
	c.mu.Unlock()
	return e, nil
}
