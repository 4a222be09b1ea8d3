using System.Globalization;

namespace AkkaTcpTransfer.Text;

/// <summary>Byte counts and durations for people: 1.5 GiB, 850.2 MiB/s, 1:05.</summary>
internal static class Units
{
    private static readonly string[] Suffixes = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

    public static string Bytes(double bytes)
    {
        var i = 0;
        while (Math.Abs(bytes) >= 1024 && i < Suffixes.Length - 1)
        {
            bytes /= 1024;
            i++;
        }
        return i == 0 ? $"{bytes.ToString("0", CultureInfo.InvariantCulture)} B" : $"{bytes.ToString("0.0", CultureInfo.InvariantCulture)} {Suffixes[i]}";
    }

    /// <summary>A setting's duration in seconds for a message: "30 s", "0.5 s".</summary>
    public static string Seconds(TimeSpan t) => $"{t.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s";

    public static string Duration(double seconds)
    {
        if (double.IsNaN(seconds) || double.IsInfinity(seconds)) return "?";
        var t = TimeSpan.FromSeconds(Math.Ceiling(Math.Max(0, seconds)));
        return t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss", CultureInfo.InvariantCulture) : t.ToString(@"m\:ss", CultureInfo.InvariantCulture);
    }
}
