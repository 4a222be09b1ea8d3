using AkkaTcpTransfer.Client;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>The client's outgoing lines, with the time passed in: never faster than the server allows, never more
/// queued than the setting, every line accounted for.</summary>
public class ChatOutboxTests
{
    private static readonly ClientLimits Limits = new(ChatPerSecond: 20, ChatBurst: 5, WhoPerSecond: 1, WhoBurst: 1, OffersPerSecond: 1, OffersBurst: 1, RoomsPerSecond: 1, RoomsBurst: 1, HistoryPerSecond: 1, HistoryBurst: 1);

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public void Lines_leave_in_order_at_the_servers_pace_after_its_burst()
    {
        var outbox = new ChatOutbox(capacity: 100);
        outbox.Begin(Limits, Ms(0));
        for (var i = 1; i <= 12; i++) Assert.True(outbox.TryEnqueue(new ChatOutbox.Line(i, null, $"l{i}")));
        Assert.Equal([1L, 2, 3, 4, 5], outbox.TakeReady(Ms(0)).Select(l => l.Number));
        Assert.Equal(Ms(50), outbox.NextIn(Ms(0)));
        Assert.Empty(outbox.TakeReady(Ms(49)));
        Assert.Equal([6L], outbox.TakeReady(Ms(50)).Select(l => l.Number));
        Assert.Equal([7L, 8, 9], outbox.TakeReady(Ms(200)).Select(l => l.Number));
        Assert.Equal(3, outbox.Queued);
        Assert.Equal(12, outbox.Unconfirmed);
    }

    [Fact]
    public void Nothing_leaves_before_a_session_announced_its_rates_and_a_full_queue_takes_no_more()
    {
        var outbox = new ChatOutbox(capacity: 2);
        Assert.True(outbox.TryEnqueue(new ChatOutbox.Line(1, null, "a")));
        Assert.True(outbox.TryEnqueue(new ChatOutbox.Line(2, null, "b")));
        Assert.False(outbox.TryEnqueue(new ChatOutbox.Line(3, null, "c")));
        Assert.Empty(outbox.TakeReady(Ms(0)));
        Assert.Null(outbox.NextIn(Ms(0)));
        outbox.Begin(Limits, Ms(0));
        Assert.Equal(2, outbox.TakeReady(Ms(0)).Count);
    }

    [Fact]
    public void Each_answer_settles_its_own_line_and_the_end_of_a_session_returns_every_unanswered_one()
    {
        var outbox = new ChatOutbox(capacity: 100);
        outbox.Begin(Limits, Ms(0));
        for (var i = 1; i <= 7; i++) outbox.TryEnqueue(new ChatOutbox.Line(i, i == 2 ? "bob" : null, $"l{i}"));
        var sent = outbox.TakeReady(Ms(0));
        Assert.Equal("bob", outbox.Answered(sent[1].WireId)!.To);
        Assert.Null(outbox.Answered(sent[1].WireId)); // once only
        Assert.Null(outbox.Answered(999));
        var (unanswered, queued) = outbox.TakeAll();
        Assert.Equal([1L, 3, 4, 5], unanswered.Select(l => l.Number));
        Assert.Equal([6L, 7], queued.Select(l => l.Number));
        Assert.Equal(0, outbox.Unconfirmed);
        // A new session begins with the server's fresh burst.
        outbox.TryEnqueue(new ChatOutbox.Line(8, null, "l8"));
        Assert.Empty(outbox.TakeReady(Ms(1000)));
        outbox.Begin(Limits, Ms(1000));
        Assert.Single(outbox.TakeReady(Ms(1000)));
    }

    [Fact]
    public void A_line_number_beyond_32_bits_keeps_its_low_bits_on_the_wire()
    {
        Assert.Equal(5u, new ChatOutbox.Line((1L << 32) + 5, null, "x").WireId);
    }
}
