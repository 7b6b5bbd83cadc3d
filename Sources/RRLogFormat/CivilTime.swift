/// A UTC date and time of day from seconds since 1970, by arithmetic (no formatter, no locale):
/// the timestamps of `rrlog info` and of S3 request signatures. The proleptic Gregorian calendar,
/// days to a civil date as in Howard Hinnant's algorithm.
package struct CivilTime: Equatable {
    package var year, month, day, hour, minute, second: Int64

    /// The time `seconds` after 1970-01-01T00:00:00Z (before it when negative).
    package init(unixSeconds seconds: Int64) {
        let days = seconds >= 0 ? seconds / 86_400 : -((-(seconds + 1)) / 86_400) - 1
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * mp + 2) / 5 + 1
        month = mp < 10 ? mp + 3 : mp - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        hour = secondOfDay / 3600
        minute = secondOfDay / 60 % 60
        second = secondOfDay % 60
    }

    /// `value` in decimal, zero-padded to `width` digits.
    package static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
