using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Presentation;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

public sealed class ConsoleActorTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
{
    private static TransferProgress Progress(long bytes) => new("0badcafe", "big.bin", bytes, 1000, 100, (1000 - bytes) / 100.0);

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
            Progress(100), Progress(500),
            new ChatReceived("bob", null, "hi while sending", DateTimeOffset.UtcNow),
            Progress(1000));
        Assert.Contains("0badcafe big.bin [############------------]  50%", text, StringComparison.Ordinal);
        Assert.Contains("\u001b[1A\u001b[2K", text, StringComparison.Ordinal); // the bar is erased before redrawing
        Assert.Contains("<bob> hi while sending", text, StringComparison.Ordinal);
        // Finished transfers leave the status area: the last thing written is the erase of the bar.
        Assert.EndsWith("\u001b[1A\u001b[2K", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Piped_progress_prints_the_first_and_the_last_line_not_every_update()
    {
        var text = await Render(live: false, Progress(100), Progress(200), Progress(300), Progress(1000));
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Contains(" 10%", lines[0], StringComparison.Ordinal);
        Assert.Contains("100%", lines[1], StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', text);
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
