using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Presentation;
using AkkaTcpTransfer.Transfer;
using static AkkaTcpTransfer.Presentation.ScreenModel;

namespace AkkaTcpTransfer.Tests.Presentation;

/// <summary>The screen model alone: events in, what a person sees out.</summary>
public sealed class ScreenModelTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    private static DateTimeOffset At(double seconds) => T0.AddSeconds(seconds);

    [Fact]
    public void Chat_own_lines_direct_messages_and_notices_are_told_apart_and_the_status_line_follows_presence()
    {
        var m = new ScreenModel("alice", asks: true);
        m.Apply(new Connected("server", "alice", new string('a', 64), Security.TrustBasis.KnownServer, ["server", "alice", "bob"]), At(0));
        m.Apply(new ChatReceived("bob", null, "hi all", At(1)), At(1));
        m.Apply(new ChatSent(1, null, "hello bob", At(2)), At(2));
        m.Apply(new ChatReceived("bob", "alice", "psst", At(3)), At(3));
        m.Apply(new PeerJoined("carol"), At(4));
        m.Apply(new ChatReceived("mallory", null, "evil \u001b[2J text", At(5)), At(5));
        Assert.Equal([LineKind.Notice, LineKind.Chat, LineKind.Own, LineKind.Direct, LineKind.Notice, LineKind.Chat], m.Log.Select(l => l.Kind));
        Assert.Equal("<alice> hello bob", m.Log[2].Text);
        Assert.Equal("<bob → alice> psst", m.Log[3].Text);
        Assert.DoesNotContain('\u001b', m.Log[5].Text);
        Assert.Equal("alice @ server · online · TLS · 3 online: bob, carol, server", m.Status);
        m.Apply(new Disconnected("server went away", WillReconnect: true), At(6));
        Assert.StartsWith("alice @ server · reconnecting", m.Status, StringComparison.Ordinal);
    }

    [Fact]
    public void A_kept_file_has_a_row_per_recipient_with_its_progress_and_how_it_ended()
    {
        var m = new ScreenModel("alice", asks: true);
        m.Apply(new DeliveryChanged("f1", "report.pdf", "bob", DeliveryStatus.Offered, 0, 1000, ""), At(0));
        m.Apply(new DeliveryChanged("f1", "report.pdf", "carol", DeliveryStatus.Waiting, 0, 1000, ""), At(0));
        m.Apply(new DeliveryChanged("f1", "report.pdf", "dave", DeliveryStatus.Receiving, 400, 1000, ""), At(0));
        var rows = m.Transfers(At(0.1)).ToDictionary(r => r.Peer);
        Assert.Equal(3, rows.Count);
        Assert.Equal((RowState.Waiting, "waiting for bob"), (rows["bob"].State, rows["bob"].StateText));
        Assert.Equal((RowState.Moving, 400L, 1000L), (rows["dave"].State, rows["dave"].Bytes, rows["dave"].Total));

        m.Apply(new DeliveryChanged("f1", "report.pdf", "bob", DeliveryStatus.Rejected, 0, 1000, "refused by bob: the receiver declined"), At(1));
        m.Apply(new DeliveryChanged("f1", "report.pdf", "dave", DeliveryStatus.Delivered, 1000, 1000, ""), At(1));
        rows = m.Transfers(At(1.1)).ToDictionary(r => r.Peer);
        Assert.Equal((RowState.Failed, "rejected: refused by bob: the receiver declined"), (rows["bob"].State, rows["bob"].StateText));
        Assert.Equal(RowState.Done, rows["dave"].State);
        Assert.Equal(RowState.Waiting, rows["carol"].State);
        Assert.Equal(["report.pdf for bob: rejected: refused by bob: the receiver declined", "report.pdf delivered to dave (kept by the server as f1)"],
            m.Log.Select(l => l.Text));
        // Told again on reconnecting: nothing new.
        m.Apply(new DeliveryChanged("f1", "report.pdf", "dave", DeliveryStatus.Delivered, 1000, 1000, ""), At(2));
        Assert.Equal(2, m.Log.Count);
    }

    [Fact]
    public void A_folders_files_share_one_row_that_counts_them_and_settles_into_one_log_line()
    {
        var m = new ScreenModel("bob", asks: false);
        for (var i = 0; i < 3; i++)
        {
            m.Apply(new TransferOffered($"0000000{i}", $"album/{i}.bin", 1000, "server", "bob"), At(0));
            m.Apply(new TransferStarted($"0000000{i}", $"album/{i}.bin", 1000, "server", "bob", TransferDirection.Receive, 0), At(0));
        }
        m.Apply(new TransferProgress("00000000", "album/0.bin", 500, 1000, 0, null), At(0.5));
        var row = Assert.Single(m.Transfers(At(0.5)));
        Assert.Equal(("album/", 3, 500L, 3000L, RowState.Moving, "0/3 files"), (row.Label, row.Files, row.Bytes, row.Total, row.State, row.StateText));
        foreach (var i in new[] { 0, 1, 2 }) m.Apply(new TransferCompleted($"0000000{i}", $"album/{i}.bin", $"/dl/album/{i}.bin", 1000, "s", 1), At(1));
        // Not done at once: the sender offers a folder's files a few at a time.
        Assert.False(m.Tick(At(2)));
        Assert.DoesNotContain(m.Log, l => l.Text.Contains("album/", StringComparison.Ordinal));
        Assert.True(m.Tick(At(3.1)));
        Assert.Equal(RowState.Done, Assert.Single(m.Transfers(At(3.1))).State);
        Assert.Equal("album/ received from server: 3 of 3 files (2.9 KiB)", Assert.Single(m.Log).Text);
        m.Tick(At(9));
        Assert.Empty(m.Transfers(At(9)));
    }

    [Fact]
    public void A_folders_files_in_one_stream_and_a_large_file_beside_it_are_one_row_counted_when_the_stream_lands()
    {
        var m = new ScreenModel("bob", asks: false);
        m.Apply(new TransferStarted("0000000a", "album/", 50_000, "server", "bob", TransferDirection.Receive, 0), At(0));
        m.Apply(new TransferStarted("0000000b", "album/big.iso", 40_000_000, "server", "bob", TransferDirection.Receive, 0), At(0));
        var row = Assert.Single(m.Transfers(At(0.5)));
        Assert.Equal(("album/", RowState.Moving, "0/… files"), (row.Label, row.State, row.StateText));
        m.Apply(new TransferCompleted("0000000a", "album/", "/dl/album", 50_000, "s", 1, Files: 120), At(1));
        Assert.Equal("120/121 files", Assert.Single(m.Transfers(At(1))).StateText);
        m.Apply(new TransferCompleted("0000000b", "album/big.iso", "/dl/album/big.iso", 40_000_000, "s", 1), At(1.5));
        Assert.True(m.Tick(At(3.6)));
        Assert.Equal("album/ received from server: 121 of 121 files (38.2 MiB)", Assert.Single(m.Log).Text);
    }

    [Fact]
    public void The_rate_is_measured_over_at_least_a_second_so_bunched_events_give_no_nonsense()
    {
        var m = new ScreenModel("alice", asks: false);
        m.Apply(new TransferStarted("0000000a", "big.iso", 100_000_000, "alice", "server", TransferDirection.Send, 0), At(0));
        Assert.Equal(0, m.Transfers(At(0)).Single().Rate);
        // Two events 1 ms apart, 10 MB apart: over 1 ms that would be 10 GB/s.
        m.Apply(new TransferProgress("0000000a", "big.iso", 10_000_000, 100_000_000, 0, null), At(0.999));
        m.Apply(new TransferProgress("0000000a", "big.iso", 20_000_000, 100_000_000, 0, null), At(1.0));
        var rate = m.Transfers(At(1.0)).Single().Rate;
        Assert.InRange(rate, 19_000_000, 21_000_000);
        m.Apply(new TransferProgress("0000000a", "big.iso", 40_000_000, 100_000_000, 0, null), At(2.0));
        var row = m.Transfers(At(2.0)).Single();
        Assert.InRange(row.Rate, 19_000_000, 21_000_000);
        Assert.InRange(row.Eta!.Value.TotalSeconds, 2.5, 3.5);
    }

    [Fact]
    public void When_it_asks_an_offer_is_a_prompt_a_folder_one_prompt_and_the_sender_sees_it_wait()
    {
        var receiver = new ScreenModel("bob", asks: true);
        receiver.Apply(new TransferOffered("00000001", "album/a.bin", 10, "alice", "bob"), At(0));
        receiver.Apply(new TransferOffered("00000002", "album/sub/b.bin", 20, "alice", "bob"), At(0));
        receiver.Apply(new TransferOffered("00000003", "notes.txt", 5, "alice", "bob"), At(0));
        Assert.Equal([("album/", 2, 30L), ("notes.txt", 1, 5L)], receiver.Offers.Select(o => (o.Label, o.Files, o.Bytes)).OrderBy(o => o.Label));
        Assert.All(receiver.Transfers(At(0)), r => Assert.Equal(RowState.Offered, r.State));
        receiver.Apply(new TransferStarted("00000001", "album/a.bin", 10, "alice", "bob", TransferDirection.Receive, 0), At(1));
        receiver.Apply(new TransferStarted("00000002", "album/sub/b.bin", 20, "alice", "bob", TransferDirection.Receive, 0), At(1));
        Assert.Equal("notes.txt", Assert.Single(receiver.Offers).Label);

        var sender = new ScreenModel("alice", asks: true);
        sender.Apply(new TransferWaiting("00000003", "notes.txt", 5, "bob"), At(0));
        var waiting = Assert.Single(sender.Transfers(At(0)));
        Assert.Equal((RowState.Waiting, "waiting for bob"), (waiting.State, waiting.StateText));
        Assert.Empty(sender.Offers);
    }

    [Fact]
    public void A_row_never_draws_wider_than_the_terminal()
    {
        var m = new ScreenModel("alice", asks: false);
        m.Apply(new TransferStarted("0000000a", "a-very-long-file-name-that-goes-on-and-on-and-on.bin", 5L << 30, "alice", "server", TransferDirection.Send, 0), At(0));
        m.Apply(new TransferProgress("0000000a", "x", 1L << 30, 5L << 30, 0, null), At(1));
        foreach (var width in new[] { 20, 40, 80, 120 })
        {
            var line = ScreenModel.Render(m.Transfers(At(1.5)).Single(), width);
            Assert.True(line.Length <= width, $"{line.Length} > {width}: {line}");
        }
        Assert.Contains("20%", ScreenModel.Render(m.Transfers(At(2)).Single(), 120), StringComparison.Ordinal);
    }

    private static ScreenModel InRooms(params string[] rooms)
    {
        var m = new ScreenModel("alice", asks: false);
        m.Apply(new Connected("server", "alice", null, null, ["server", "alice", "bob"]), At(0));
        foreach (var room in rooms) m.Apply(new JoinedRoom(room, "", 2, Rejoined: false), At(1));
        return m;
    }

    [Fact]
    public void A_line_to_a_room_lands_in_that_rooms_log_and_counts_as_unread_while_another_room_is_in_view()
    {
        var m = InRooms("#lan", "#dev");
        // The room joined last came into view.
        Assert.Equal("#dev", m.RoomInView);
        m.Apply(new ChatReceived("bob", "#lan", "over here", At(2)), At(2));
        m.Apply(new ChatReceived("bob", "#lan", "hello?", At(3)), At(3));
        m.Apply(new ChatReceived("carol", "#dev", "in view", At(4)), At(4));
        m.Apply(new ChatReceived("bob", null, "to everyone", At(5)), At(5));
        Assert.Equal(["<bob> over here", "<bob> hello?"], m.LogOf("#lan").Where(l => l.Kind == LineKind.Chat).Select(l => l.Text));
        Assert.DoesNotContain(m.LogOf("#dev"), l => l.Text.Contains("over here", StringComparison.Ordinal));
        Assert.DoesNotContain(m.LogOf(null), l => l.Text.Contains("over here", StringComparison.Ordinal));
        Assert.Equal([(null, 1), ("#lan", 2), ("#dev", 0)], m.Conversations.Select(c => (c.Room, c.Unread)));
        Assert.Equal("<carol> in view", m.Log[^1].Text);
    }

    [Fact]
    public void Switching_to_a_room_shows_its_log_and_clears_its_unread_count()
    {
        var m = InRooms("#lan", "#dev");
        m.Apply(new ChatReceived("bob", "#lan", "over here", At(2)), At(2));
        Assert.Equal(1, m.Conversations.Single(c => c.Room == "#lan").Unread);
        // However the person spells it.
        Assert.True(m.View("#LAN"));
        Assert.Equal("#lan", m.RoomInView);
        Assert.Equal(0, m.Conversations.Single(c => c.Room == "#lan").Unread);
        Assert.Equal("<bob> over here", m.Log[^1].Text);
        // A line in the room in view is seen as it comes.
        m.Apply(new ChatReceived("bob", "#lan", "and now", At(3)), At(3));
        Assert.Equal(0, m.Conversations.Single(c => c.Room == "#lan").Unread);
        // Next and previous go round the list: the server-wide room, then the rooms in the order joined.
        m.ViewNext(1);
        Assert.Equal("#dev", m.RoomInView);
        m.ViewNext(1);
        Assert.Null(m.RoomInView);
        m.ViewNext(-1);
        Assert.Equal("#dev", m.RoomInView);
        Assert.False(m.View("#elsewhere"));
        Assert.Equal("#dev", m.RoomInView);
    }

    [Fact]
    public void History_lines_keep_the_time_they_were_said_are_marked_as_history_and_come_before_the_live_lines()
    {
        var m = InRooms("#lan");
        m.Apply(new HistoryLine("bob", "#lan", "yesterday", At(-86_400)), At(1));
        m.Apply(new HistoryLine("carol", "#lan", "an hour ago", At(-3600)), At(1));
        m.Apply(new HistoryEnded("#lan", More: true), At(1));
        m.Apply(new ChatReceived("bob", "#lan", "now", At(2)), At(2));
        Assert.Equal([
            (LineKind.History, At(-86_400), "<bob> yesterday"),
            (LineKind.History, At(-3600), "<carol> an hour ago"),
            (LineKind.Separator, At(-3600), "history above; /history shows earlier lines"),
            (LineKind.Notice, At(1), "joined #lan (2 members)"),
            (LineKind.Chat, At(2), "<bob> now"),
        ], m.Log.Select(l => (l.Kind, l.At, l.Text)));

        // A page further back goes on top; after a reconnection the recent lines come again, and those shown already
        // are not shown twice; a line missed meanwhile takes its place in time. None of it is unread.
        m.View(null);
        m.Apply(new HistoryLine("dave", "#lan", "last week", At(-604_800)), At(3));
        m.Apply(new HistoryEnded("#lan", More: false), At(3));
        m.Apply(new HistoryLine("carol", "#lan", "an hour ago", At(-3600)), At(4));
        m.Apply(new HistoryLine("bob", "#lan", "now", At(2)), At(4));
        m.Apply(new HistoryLine("carol", "#lan", "while you were away", At(3)), At(4));
        m.Apply(new HistoryEnded("#lan", More: false), At(4));
        Assert.Equal([
            "<dave> last week", "<bob> yesterday", "<carol> an hour ago", "joined #lan (2 members)", "<bob> now",
            "<carol> while you were away", "history above; nothing earlier is kept",
        ], m.LogOf("#lan").Select(l => l.Text));
        Assert.Equal(0, m.Conversations.Single(c => c.Room == "#lan").Unread);
    }

    [Fact]
    public void Leaving_a_room_removes_its_conversation_and_the_view_goes_back_to_the_server_wide_room()
    {
        var m = InRooms("#lan", "#dev");
        Assert.True(m.IsMember("#Lan"));
        m.Apply(new LeftRoom("#dev", "you left #dev"), At(2));
        m.Apply(new LeftRoom("#lan", "you left #lan"), At(3));
        Assert.Equal([null], m.Conversations.Select(c => c.Room));
        Assert.Null(m.RoomInView);
        Assert.False(m.IsMember("#lan"));
        Assert.Empty(m.LogOf("#lan"));
        Assert.Equal("left #lan: you left #lan", m.Log[^1].Text);
        // A line for the room still on its way when it was left is not lost.
        m.Apply(new ChatReceived("bob", "#lan", "late", At(4)), At(4));
        Assert.Equal("<bob → #lan> late", m.Log[^1].Text);
    }

    [Fact]
    public void A_room_the_person_joins_comes_into_view_but_one_rejoined_after_a_reconnection_does_not()
    {
        var m = InRooms("#lan");
        m.View(null);
        m.Apply(new JoinedRoom("#lan", "topic", 2, Rejoined: true), At(2));
        Assert.Null(m.RoomInView);
        m.Apply(new JoinedRoom("#dev", "", 1, Rejoined: false), At(3));
        Assert.Equal("#dev", m.RoomInView);
        Assert.Equal([null, "#lan", "#dev"], m.Conversations.Select(c => c.Room));
        Assert.Equal("topic", m.Conversations[1].Topic);
    }

    [Fact]
    public void Direct_messages_stay_with_the_server_wide_room_and_show_in_the_room_in_view_too()
    {
        var m = InRooms("#lan");
        m.Apply(new ChatReceived("bob", "alice", "psst", At(2)), At(2));
        m.Apply(new ChatSent(1, "bob", "later", At(3), Held: true), At(3));
        string[] direct = ["<bob → alice> psst", "<alice → bob> later (bob is offline: kept for their next visit)"];
        Assert.Equal(direct, m.LogOf(null).Where(l => l.Kind is LineKind.Direct or LineKind.Own).Select(l => l.Text));
        Assert.Equal(direct, m.LogOf("#lan").Where(l => l.Kind is LineKind.Direct or LineKind.Own).Select(l => l.Text));
        Assert.Equal(0, m.Conversations[0].Unread);
    }

    [Fact]
    public void A_reader_of_the_log_in_view_gets_the_new_lines_or_all_of_them_when_the_view_or_their_order_changed()
    {
        var m = InRooms("#lan");
        var (lines, whole, mark) = m.LinesSince(default);
        Assert.True(whole);
        Assert.Equal(m.Log, lines);
        m.Apply(new ChatReceived("bob", "#lan", "one", At(2)), At(2));
        (lines, whole, mark) = m.LinesSince(mark);
        Assert.False(whole);
        Assert.Equal(["<bob> one"], lines.Select(l => l.Text));
        // History placed among the lines shown: the reader starts over.
        m.Apply(new HistoryLine("bob", "#lan", "zero", At(-5)), At(3));
        (lines, whole, mark) = m.LinesSince(mark);
        Assert.True(whole);
        Assert.Equal(["<bob> zero", "joined #lan (2 members)", "<bob> one"], lines.Select(l => l.Text));
        m.View(null);
        (lines, whole, _) = m.LinesSince(mark);
        Assert.True(whole);
        Assert.Equal(m.LogOf(null), lines);
    }
}
