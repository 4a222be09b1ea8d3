using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Presentation;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

public sealed class ConsoleActorTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
{
    private static TransferProgress Progress(long bytes) => new("0badcafe", "big.bin", bytes, 1000, 100, (1000 - bytes) / 100.0);

    private static readonly TransferStarted Started = new("0badcafe", "big.bin", 1000, "me", "server", TransferDirection.Send, 0);

    private async Task<string> Render(bool live, params NodeEvent[] events)
    {
        var writer = new StringWriter();
        var console = Sys.ActorOf(ConsoleActor.Props(writer, json: false, live: live));
        foreach (var e in events) console.Tell(e);
        await console.Ask<ConsoleActor.Flushed>(ConsoleActor.Flush.Instance, TimeSpan.FromSeconds(5));
        return writer.ToString();
    }

    [Fact]
    public async Task On_a_terminal_progress_is_redrawn_in_place_below_the_chat()
    {
        var text = await Render(live: true,
            Started, Progress(100), Progress(500),
            new ChatReceived("bob", null, "hi while sending", DateTimeOffset.UtcNow),
            Progress(1000), new TransferCompleted("0badcafe", "big.bin", "/x/big.bin", 1000, "ab", 1));
        Assert.Matches(@"big\.bin +\[#+-+\]  50%", text);
        Assert.Contains("\u001b[1A\u001b[2K", text, StringComparison.Ordinal); // the bar is erased before redrawing
        Assert.Contains("<bob> hi while sending", text, StringComparison.Ordinal);
        // Finished transfers leave the status area: after the line saying it is done, no bar is drawn again.
        var done = text.LastIndexOf("done: big.bin", StringComparison.Ordinal);
        Assert.True(done > 0, text.Replace("\u001b", "ESC", StringComparison.Ordinal));
        Assert.DoesNotContain("%", text[done..], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Piped_progress_prints_the_first_and_the_last_line_not_every_update()
    {
        var text = await Render(live: false, Started, Progress(100), Progress(200), Progress(300), Progress(1000));
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Contains("sending big.bin to server", lines[0], StringComparison.Ordinal);
        Assert.Contains(" 10%", lines[1], StringComparison.Ordinal);
        Assert.Contains("100%", lines[2], StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', text);
    }

    [Fact]
    public async Task Live_bars_never_exceed_the_terminal_width_so_erasing_leaves_no_stale_rows()
    {
        var writer = new StringWriter();
        var console = Sys.ActorOf(ConsoleActor.Props(writer, json: false, live: true, width: () => 40));
        console.Tell(new TransferStarted("0badcafe", "a-file-with-a-name-longer-than-the-terminal-is-wide.bin", 1000, "me", "server", TransferDirection.Send, 0));
        console.Tell(Progress(500));
        await console.Ask<ConsoleActor.Flushed>(ConsoleActor.Flush.Instance, TimeSpan.FromSeconds(5));
        var bars = writer.ToString().Split('\n').Where(l => l.Contains('%', StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(bars);
        foreach (var line in bars)
        {
            var visible = System.Text.RegularExpressions.Regex.Replace(line, "\u001b\\[[0-9;]*[A-Za-z]", "").TrimEnd('\r');
            Assert.True(visible.Length < 40, $"{visible.Length} columns: {visible}");
        }
    }

    [Fact]
    public async Task A_folder_is_one_offer_line_and_its_files_are_not_listed_one_by_one()
    {
        var events = new List<NodeEvent>();
        for (var i = 0; i < 50; i++)
        {
            var id = $"{i:x8}";
            events.Add(new TransferOffered(id, $"album/{i}.bin", 100, "bob", "me"));
            events.Add(new TransferStarted(id, $"album/{i}.bin", 100, "bob", "me", TransferDirection.Receive, 0));
            events.Add(new TransferProgress(id, $"album/{i}.bin", 100, 100, 100, 0));
            events.Add(new TransferCompleted(id, $"album/{i}.bin", $"/dl/album/{i}.bin", 100, "ab", 0.1));
        }
        var writer = new StringWriter();
        var console = Sys.ActorOf(ConsoleActor.Props(writer, json: false, live: false, asks: true));
        foreach (var e in events) console.Tell(e);
        await console.Ask<ConsoleActor.Flushed>(ConsoleActor.Flush.Instance, TimeSpan.FromSeconds(5));
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("offers the folder album/", lines[0], StringComparison.Ordinal);
        Assert.Contains("/accept 00000000 or /reject 00000000 (one answer for the whole folder)", lines[0], StringComparison.Ordinal);
        Assert.True(lines.Length <= 3, $"{lines.Length} lines for a folder of 50 files:\n{string.Join('\n', lines)}");
        // Once no file has moved for a moment, one line says how the folder went.
        await AwaitAssertAsync(() => Assert.Contains("album/ received from bob: 50 files", writer.ToString(), StringComparison.Ordinal), TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_server_that_stays_away_is_reported_once_not_at_every_attempt()
    {
        var events = Enumerable.Range(0, 20).Select(_ => (NodeEvent)new Disconnected("connection refused", WillReconnect: true)).ToArray();
        var text = await Render(live: false, events);
        Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Json_mode_writes_one_object_per_event()
    {
        var writer = new StringWriter();
        var console = Sys.ActorOf(ConsoleActor.Props(writer, json: true, live: true));
        console.Tell(Progress(500));
        await console.Ask<ConsoleActor.Flushed>(ConsoleActor.Flush.Instance, TimeSpan.FromSeconds(5));
        Assert.Equal("{\"event\":\"transfer-progress\",\"id\":\"0badcafe\",\"file\":\"big.bin\",\"bytes\":500,\"total\":1000,\"rate\":100,\"eta\":5}" + Environment.NewLine, writer.ToString());
    }

    /// <summary>A terminal stopped with Ctrl-S: every write blocks until it is let go.</summary>
    private sealed class StalledWriter : StringWriter
    {
        public ManualResetEventSlim Go { get; } = new(false);

        public override void Write(string? value)
        {
            Go.Wait();
            base.Write(value);
        }
    }

    [Fact]
    public async Task Output_nobody_reads_costs_lines_not_memory_and_never_stalls_the_actor()
    {
        using var writer = new StalledWriter();
        var console = Sys.ActorOf(ConsoleActor.Props(writer, json: false));
        const int Events = ConsoleActor.OutputCapacity * 3;
        for (var i = 0; i < Events; i++) console.Tell(new ChatReceived("bob", null, $"line {i}", DateTimeOffset.UtcNow));
        // The actor keeps taking events although nothing is written: it answers at once.
        var identity = await console.Ask<ActorIdentity>(new Identify(1), TimeSpan.FromSeconds(10));
        Assert.Equal(1, identity.MessageId);
        writer.Go.Set();
        await console.Ask<ConsoleActor.Flushed>(ConsoleActor.Flush.Instance, TimeSpan.FromSeconds(10));
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // At most the queue's worth (and the one being written) came out, then one line saying how many did not.
        Assert.InRange(lines.Length, ConsoleActor.OutputCapacity, ConsoleActor.OutputCapacity + 3);
        var note = Assert.Single(lines, l => l.Contains("lines not shown", StringComparison.Ordinal));
        var dropped = long.Parse(note[1..note.IndexOf(' ', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Events, lines.Length - 1 + dropped);
    }
}
