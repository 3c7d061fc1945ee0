package wechat

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Only verified service accounts (认证服务号) may send msgmenu messages;
// test accounts and unverified ones answer errcode 40200. The adapter
// learns it from the first refusal and sends every later keyboard as a
// typed prompt, remembering it in this process and in Config.Cache (shared
// by the replicas) for menuRefusalTTL, after which one menu is tried again
// (the account may have been verified meanwhile).
const (
	codeMenuUnauthorized = 40200
	menuRefusalTTL       = 24 * time.Hour
)

func (a *Adapter) menuRefusalKey() string { return "wechat:no_msgmenu:" + a.cfg.AppID }

// menusRefused reports whether the account is known not to send menus.
func (a *Adapter) menusRefused(ctx context.Context) bool {
	if a.now().UnixNano() < a.noMenuUntil.Load() {
		return true
	}
	value, ok, err := a.cfg.Cache.GetString(ctx, a.menuRefusalKey())
	if err != nil || !ok {
		return false // unknown: try the menu; a refusal costs one call
	}
	until, err := strconv.ParseInt(value, 10, 64)
	if err != nil || a.now().UnixNano() >= until {
		return false
	}
	a.noMenuUntil.Store(until)
	return true
}

// menuRefusal reports whether err is WeChat's 40200 and, if so, remembers it.
func (a *Adapter) menuRefusal(ctx context.Context, err error) bool {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != codeMenuUnauthorized {
		return false
	}
	until := a.now().Add(menuRefusalTTL).UnixNano()
	a.noMenuUntil.Store(until)
	if serr := a.cfg.Cache.SetString(ctx, a.menuRefusalKey(), strconv.FormatInt(until, 10), menuRefusalTTL); serr != nil {
		a.log.Warn("could not share that the wechat account sends no menus", "err", serr)
	}
	a.log.Warn("this wechat account may not send menu messages (errcode 40200: test or unverified account): keyboards go as typed prompts", "for", menuRefusalTTL)
	return true
}
