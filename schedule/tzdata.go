package schedule

// The IANA time zone database, built in: a schedule in "Europe/Berlin" must
// load on a machine or in a container image without /usr/share/zoneinfo.
// The system's copy is still used first where there is one.
import _ "time/tzdata"
