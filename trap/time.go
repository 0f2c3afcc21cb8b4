package trap

import "time"

// Time is a UniRec timestamp: seconds since the Unix epoch in the high 32
// bits and a binary fraction of a second (units of 2^-32 s) in the low 32.
type Time uint64

// TimeFromUnix converts seconds and nanoseconds as libunirec's
// ur_time_from_sec_nsec does.
func TimeFromUnix(sec int64, nsec int64) Time {
	sec += nsec / 1e9
	nsec %= 1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	// 0x44B82FA0A is 2^64/1e9 rounded up, so frac = nsec*2^32/1e9.
	return Time(uint64(sec)<<32 | (uint64(nsec)*0x44B82FA0A)>>32)
}

// TimeFromUnixMicro converts microseconds since the epoch as libunirec's
// ur_time_from_sec_usec does, which is how ipfixprobe writes the times of
// its struct timeval.
func TimeFromUnixMicro(us int64) Time {
	sec := us / 1e6
	us -= sec * 1e6
	if us < 0 {
		sec--
		us += 1e6
	}
	return Time(uint64(sec)<<32 | (uint64(us)<<32)/1e6)
}

// TimeOf converts t to a UniRec time.
func TimeOf(t time.Time) Time { return TimeFromUnix(t.Unix(), int64(t.Nanosecond())) }

// Sec is the whole seconds since the epoch.
func (t Time) Sec() uint32 { return uint32(t >> 32) }

// Frac is the fraction of a second in units of 2^-32 s.
func (t Time) Frac() uint32 { return uint32(t) }

// Nsec is the nanoseconds within the second, rounded up as libunirec's
// ur_time_get_nsec does (a time made from whole nanoseconds reads back the
// same or, a few times in a hundred, one nanosecond later).
func (t Time) Nsec() uint32 { return uint32((uint64(t.Frac())*1e9 + 0xffffffff) >> 32) }

// Msec is the milliseconds within the second, truncated (ur_time_get_msec;
// pytrap's toDatetime() keeps only these).
func (t Time) Msec() uint32 { return t.Nsec() / 1e6 }

// UnixNano is the time in nanoseconds since the epoch.
func (t Time) UnixNano() int64 { return int64(t.Sec())*1e9 + int64(t.Nsec()) }

// UnixMilli is the time in whole milliseconds since the epoch, as ALF reads
// it through pytrap: Sec()*1000 + Msec(), with Msec's two truncating
// divisions done as one.
func (t Time) UnixMilli() int64 {
	return int64(t.Sec())*1e3 + int64((uint64(t.Frac())*1e9+0xffffffff)/(1e6<<32))
}

// Time converts to a time.Time in UTC.
func (t Time) Time() time.Time { return time.Unix(int64(t.Sec()), int64(t.Nsec())).UTC() }

// AppendTo appends the time in RFC 3339 with nanoseconds, in UTC.
func (t Time) AppendTo(dst []byte) []byte {
	return t.Time().AppendFormat(dst, "2006-01-02T15:04:05.000000000Z07:00")
}

// String formats the time as AppendTo does.
func (t Time) String() string { return string(t.AppendTo(nil)) }
