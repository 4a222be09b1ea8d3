using AkkaTcpTransfer.Transfer.Storage;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Tests.Transfer;

public sealed class HelperTests
{
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void Progress_is_throttled_to_one_report_per_interval()
    {
        var meter = new ProgressMeter(1000, 0, S(0.25), S(0));
        Assert.True(meter.Due(S(0)));
        meter.Report(10, S(0));
        Assert.False(meter.Due(S(0.1)));
        Assert.True(meter.Due(S(0.25)));
    }

    [Fact]
    public void Rate_follows_recent_samples_and_eta_is_what_is_left_at_that_rate()
    {
        var meter = new ProgressMeter(100_000_000, 0, S(0.25), S(0));
        var (rate, eta) = meter.Report(10_000_000, S(1));
        Assert.Equal(10_000_000, rate, 1);
        Assert.Equal(9, eta!.Value, 3);
        // The link speeds up to 40 MB/s: after the old samples leave the 3 s window the rate shows it.
        for (var t = 2; t <= 6; t++) (rate, eta) = meter.Report(10_000_000 + ((t - 1) * 40_000_000L / 2), S(t));
        Assert.InRange(rate, 19_000_000, 21_000_000);
        Assert.Equal(0, meter.Report(100_000_000, S(7)).Eta);
    }

    [Fact]
    public void Eta_is_unknown_until_something_moved()
    {
        var meter = new ProgressMeter(100, 0, S(0.25), S(0));
        Assert.Null(meter.Report(0, S(1)).Eta);
    }

    [Theory]
    [InlineData("report.pdf", 1, "report (1).pdf")]
    [InlineData("archive.tar.gz", 2, "archive.tar (2).gz")]
    [InlineData("README", 1, "README (1)")]
    [InlineData(".bashrc", 3, ".bashrc (3)")]
    public void Clashing_names_are_numbered_before_the_extension(string name, int n, string expected) =>
        Assert.Equal(expected, SafeNames.Numbered(name, n));

    [Theory]
    [InlineData("plain.txt")]
    [InlineData("album/sub/b.bin")]
    [InlineData("日本語/ファイル.txt")]
    [InlineData(".hidden")]
    [InlineData("with space.txt")]
    public void Ordinary_names_and_nested_paths_are_accepted(string name) =>
        Assert.Equal(name.Split('/'), SafeNames.Validate(name, out _));

    [Fact]
    public void Transfer_ids_are_eight_hex_digits_and_parse_back()
    {
        var id = TransferIds.New();
        var text = TransferIds.Format(id);
        Assert.Matches("^[0-9a-f]{8}$", text);
        Assert.True(TransferIds.TryParse(text.ToUpperInvariant(), out var back));
        Assert.Equal(id, back);
        Assert.False(TransferIds.TryParse("00000000", out _));
        Assert.False(TransferIds.TryParse("xyz", out _));
    }
}

public sealed class NameListTests
{
    [Fact]
    public void A_short_list_is_kept_whole()
    {
        string[] names = ["server", "alice", "bob"];
        Assert.Equal(names, Chat.NameList.Fit(names, 1000));
    }

    [Fact]
    public void A_crowd_is_trimmed_to_the_budget_and_says_how_many_are_left_out()
    {
        var names = Enumerable.Range(0, 10_000).Select(i => $"client{i:00000}").ToList();
        var fit = Chat.NameList.Fit(names, 4096);
        Assert.True(fit.Sum(n => 2 + System.Text.Encoding.UTF8.GetByteCount(n)) <= 4096);
        Assert.Equal(names.Take(fit.Count - 1), fit.Take(fit.Count - 1));
        Assert.Equal($"(+{10_000 - (fit.Count - 1)} more)", fit[^1]);
    }

    [Fact]
    public void A_crowd_is_also_cut_at_a_count_of_names()
    {
        var names = Enumerable.Range(0, 10_000).Select(i => $"c{i:00000}").ToList();
        var fit = Chat.NameList.Fit(names, 1 << 20, maxNames: 1000);
        Assert.Equal(1001, fit.Count);
        Assert.Equal(names.Take(1000), fit.Take(1000));
        Assert.Equal("(+9000 more)", fit[^1]);
    }
}
