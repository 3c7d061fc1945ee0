package scheduler

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ScheduleInfo is a wave's schedule for a person: in words and as the next
// run times in the wave's time zone, so a marketer can see that
// "0 10 1 * *" means what they meant.
type ScheduleInfo struct {
	Spec     string          `json:"spec"`
	TimeZone string          `json:"timezone"`
	Words    []ScheduleWords `json:"words"`
	NextRuns []time.Time     `json:"next_runs"`
}

// ScheduleWords is the schedule described in one language.
type ScheduleWords struct {
	Language string `json:"language"`
	Text     string `json:"text"`
}

// DescribeSchedule explains a cron spec in English and Chinese and lists its
// next n runs after now, shown in the spec's CRON_TZ, else waveTZ, else the
// server's zone (the one the cron table uses for a spec without CRON_TZ).
func DescribeSchedule(spec, waveTZ string, now time.Time, n int) (ScheduleInfo, error) {
	schedule, err := ParseCron(spec)
	if err != nil {
		return ScheduleInfo{}, err
	}
	tz, body := splitTZ(spec)
	loc := time.Local
	switch {
	case tz != "":
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	case waveTZ != "":
		if l, err := time.LoadLocation(waveTZ); err == nil {
			loc = l
		}
	}
	info := ScheduleInfo{Spec: spec, TimeZone: zoneName(loc), NextRuns: []time.Time{}}
	for _, lang := range []string{"en", "zh-CN"} {
		info.Words = append(info.Words, ScheduleWords{Language: lang, Text: describe(body, tz, lang)})
	}
	t := now
	for range n {
		t = schedule.Next(t)
		if t.IsZero() {
			break
		}
		info.NextRuns = append(info.NextRuns, t.In(loc))
	}
	return info, nil
}

func zoneName(loc *time.Location) string {
	if loc == time.Local {
		if name, _ := time.Now().Zone(); name != "" && name != "Local" {
			return name
		}
	}
	return loc.String()
}

// splitTZ separates robfig/cron's "CRON_TZ=Zone " or "TZ=Zone " prefix.
func splitTZ(spec string) (tz, body string) {
	spec = strings.TrimSpace(spec)
	for _, prefix := range []string{"CRON_TZ=", "TZ="} {
		if rest, ok := strings.CutPrefix(spec, prefix); ok {
			tz, body, _ = strings.Cut(rest, " ")
			return tz, strings.TrimSpace(body)
		}
	}
	return "", spec
}

// describe covers the shapes marketers write (every N minutes, daily,
// weekdays, monthly at a time); anything else is shown as the spec itself.
func describe(body, tz, lang string) string {
	zh := lang == "zh-CN"
	words, ok := describeBody(body, zh)
	if !ok {
		if zh {
			words = "按 cron 表达式 " + body
		} else {
			words = "on cron schedule " + body
		}
	}
	if tz != "" {
		if zh {
			return words + "（" + tz + " 时间）"
		}
		return words + " (" + tz + " time)"
	}
	return words
}

func describeBody(body string, zh bool) (string, bool) {
	if rest, ok := strings.CutPrefix(body, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil {
			return "", false
		}
		return everyDuration(d, zh), true
	}
	switch body {
	case "@hourly":
		body = "0 * * * *"
	case "@daily", "@midnight":
		body = "0 0 * * *"
	case "@weekly":
		body = "0 0 * * 0"
	case "@monthly":
		body = "0 0 1 * *"
	case "@yearly", "@annually":
		body = "0 0 1 1 *"
	}
	f := strings.Fields(body)
	if len(f) != 5 {
		return "", false
	}
	minute, hour, dom, month, dow := f[0], f[1], f[2], f[3], f[4]
	// Sub-hourly and hourly shapes, every day.
	if dom == "*" && month == "*" && dow == "*" {
		switch {
		case minute == "*" && hour == "*":
			return pick(zh, "every minute", "每分钟"), true
		case hour == "*":
			if n, ok := stepOf(minute); ok {
				return pick(zh, fmt.Sprintf("every %d minutes", n), fmt.Sprintf("每 %d 分钟", n)), true
			}
			if m, ok := number(minute, 0, 59); ok {
				return pick(zh, fmt.Sprintf("every hour at minute %d", m), fmt.Sprintf("每小时第 %d 分钟", m)), true
			}
			return "", false
		}
		if n, ok := stepOf(hour); ok {
			if m, ok := number(minute, 0, 59); ok {
				return pick(zh, fmt.Sprintf("every %d hours at minute %d", n, m), fmt.Sprintf("每 %d 小时的第 %d 分钟", n, m)), true
			}
			return "", false
		}
	}
	at, ok := clockTimes(minute, hour, zh)
	if !ok {
		return "", false
	}
	days, ok := dayWords(dom, month, dow, zh)
	if !ok {
		return "", false
	}
	if zh {
		return days + " " + at, true
	}
	return days + " at " + at, true
}

func pick(zh bool, en, cn string) string {
	if zh {
		return cn
	}
	return en
}

func everyDuration(d time.Duration, zh bool) string {
	type unit struct {
		d      time.Duration
		en, zh string
	}
	for _, u := range []unit{{24 * time.Hour, "day", "天"}, {time.Hour, "hour", "小时"}, {time.Minute, "minute", "分钟"}, {time.Second, "second", "秒"}} {
		if d >= u.d && d%u.d == 0 {
			n := int(d / u.d)
			if zh {
				return fmt.Sprintf("每 %d %s", n, u.zh)
			}
			if n == 1 {
				return "every " + u.en
			}
			return fmt.Sprintf("every %d %ss", n, u.en)
		}
	}
	return pick(zh, "every "+d.String(), "每 "+d.String())
}

// stepOf reads "*/N".
func stepOf(field string) (int, bool) {
	rest, ok := strings.CutPrefix(field, "*/")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	return n, err == nil && n > 0
}

func number(field string, lo, hi int) (int, bool) {
	n, err := strconv.Atoi(field)
	return n, err == nil && n >= lo && n <= hi
}

// clockTimes reads a fixed minute and one or more listed hours: "10:00",
// "09:30, 18:30".
func clockTimes(minute, hour string, zh bool) (string, bool) {
	m, ok := number(minute, 0, 59)
	if !ok {
		return "", false
	}
	var times []string
	for _, h := range strings.Split(hour, ",") {
		n, ok := number(h, 0, 23)
		if !ok {
			return "", false
		}
		times = append(times, fmt.Sprintf("%02d:%02d", n, m))
	}
	return strings.Join(times, pick(zh, ", ", "、")), true
}

func weekdayNames(zh bool) []string {
	if zh {
		return []string{"周日", "周一", "周二", "周三", "周四", "周五", "周六"}
	}
	return []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
}

// dayWords reads the day fields: every day, listed or ranged weekdays, or
// listed days of the month (in every month or in one).
func dayWords(dom, month, dow string, zh bool) (string, bool) {
	monthEN, monthZH := "every month", "每月"
	if month != "*" {
		m, ok := number(month, 1, 12)
		if !ok {
			return "", false
		}
		monthEN, monthZH = time.Month(m).String(), fmt.Sprintf("%d 月", m)
	}
	switch {
	case dom == "*" && dow == "*" && month == "*":
		return pick(zh, "every day", "每天"), true
	case dom == "*" && dow != "*" && month == "*":
		days, ok := weekdayWords(dow, zh)
		if !ok {
			return "", false
		}
		return pick(zh, "every "+days, "每"+days), true
	case dom != "*" && dow == "*":
		var nums []string
		for _, d := range strings.Split(dom, ",") {
			n, ok := number(d, 1, 31)
			if !ok {
				return "", false
			}
			nums = append(nums, strconv.Itoa(n))
		}
		if zh {
			return monthZH + " " + strings.Join(nums, "、") + " 日", true
		}
		return "on day " + strings.Join(nums, ", ") + " of " + monthEN, true
	}
	return "", false
}

// weekdayWords reads "1-5", "1,3,5" or "MON-FRI".
func weekdayWords(dow string, zh bool) (string, bool) {
	names := weekdayNames(zh)
	day := func(s string) (int, bool) {
		if n, ok := number(s, 0, 7); ok {
			return n % 7, true
		}
		for i, n := range weekdayNames(false) {
			if strings.EqualFold(s, n[:3]) {
				return i, true
			}
		}
		return 0, false
	}
	if from, to, ok := strings.Cut(dow, "-"); ok {
		a, ok1 := day(from)
		b, ok2 := day(to)
		if !ok1 || !ok2 {
			return "", false
		}
		return names[a] + pick(zh, " to ", "至") + names[b], true
	}
	var out []string
	for _, s := range strings.Split(dow, ",") {
		d, ok := day(s)
		if !ok {
			return "", false
		}
		out = append(out, names[d])
	}
	return strings.Join(out, pick(zh, ", ", "、")), true
}
