using System.Globalization;
using System.Text.Json;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>Results of one benchmark run: rows grouped in sections, printed as a table or as JSON.</summary>
public sealed class Report
{
    public sealed record Row(string Section, string Name, double Value, string Unit, string Note = "");

    private readonly List<Row> _rows = [];

    public IReadOnlyList<Row> Rows => _rows;

    public Dictionary<string, string> Facts { get; } = [];

    public void Add(string section, string name, double value, string unit, string note = "")
    {
        _rows.Add(new Row(section, name, value, unit, note));
        Console.Error.WriteLine($"  {section} | {name}: {Format(value)} {unit} {note}");
    }

    public static string Format(double v) =>
        double.IsNaN(v) ? "n/a" : Math.Abs(v) >= 100 ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString("0.00", CultureInfo.InvariantCulture);

    public void WriteTable(TextWriter w)
    {
        foreach (var (k, v) in Facts) w.WriteLine($"{k}: {v}");
        foreach (var section in _rows.Select(r => r.Section).Distinct())
        {
            w.WriteLine();
            w.WriteLine($"## {section}");
            w.WriteLine("| measure | value | unit | note |");
            w.WriteLine("|---|---:|---|---|");
            foreach (var r in _rows.Where(r => r.Section == section)) w.WriteLine($"| {r.Name} | {Format(r.Value)} | {r.Unit} | {r.Note} |");
        }
    }

    public void WriteJson(TextWriter w) => w.WriteLine(JsonSerializer.Serialize(new
    {
        facts = Facts,
        results = _rows.Select(r => new { section = r.Section, name = r.Name, value = double.IsNaN(r.Value) ? (double?)null : r.Value, unit = r.Unit, note = r.Note }),
    }));
}

public static class Stats
{
    public static double Median(IReadOnlyList<double> values) => Percentile(values, 50);

    /// <summary>Nearest-rank percentile.</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
