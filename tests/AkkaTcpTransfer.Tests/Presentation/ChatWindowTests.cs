using System.Runtime.CompilerServices;
using AkkaTcpTransfer.Presentation;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Tui;
using Terminal.Gui.App;
using Terminal.Gui.Drivers;
using Terminal.Gui.Input;
using Terminal.Gui.Testing;
using Terminal.Gui.Time;

namespace AkkaTcpTransfer.Tests.Presentation;

internal static class HeadlessTerminal
{
    /// <summary>Terminal.Gui in these tests draws into memory only: without this, a test run from a terminal would
    /// write escape codes onto it.</summary>
    [ModuleInitializer]
    internal static void NoRealTerminal() => Environment.SetEnvironmentVariable("DisableRealDriverIO", "1");
}

/// <summary>The full-screen window, headless: what the screen shows for chat, transfers and an offer, what typing does
/// (readline's editing keys too), and a resize.</summary>
public sealed class ChatWindowTests : IDisposable
{
    private readonly IApplication _app;
    private readonly ChatWindow _window = new("akka-tcp-transfer");

    public ChatWindowTests()
    {
        _app = Application.Create(new VirtualTimeProvider());
        _app.Init(DriverRegistry.Names.ANSI);
        _app.Driver!.SetScreenSize(100, 24);
        _app.Begin(_window);
    }

    private string Screen()
    {
        _app.LayoutAndDraw();
        return _app.Driver!.ToString() ?? "";
    }

    private static readonly DateTimeOffset T = DateTimeOffset.Now;

    private static UiSnapshot Snapshot(IReadOnlyList<ScreenModel.TransferRow>? rows = null, IReadOnlyList<ScreenModel.OfferPrompt>? offers = null,
        params string[] lines) =>
        new([.. lines.Select(l => new ScreenModel.LogLine(T, ScreenModel.LineKind.Chat, l))], rows ?? [], offers ?? [],
            "alice @ server · online · TLS · 2 online: bob, server", ["bob", "server"]);

    private static ScreenModel.TransferRow Row(string label, long bytes, long total) =>
        new(label, label, TransferDirection.Receive, "bob", bytes, total, 2_000_000, TimeSpan.FromSeconds(3), ScreenModel.RowState.Moving, "2/5 files", 5);

    [Fact]
    public void Chat_transfers_an_offer_and_the_status_line_are_on_screen()
    {
        _window.Show(Snapshot([Row("album/", 45, 100)], [new ScreenModel.OfferPrompt("0000abcd", "photos/", "bob", 12, 3 << 20)],
            "<bob> hello alice", "<alice> hi bob"));
        var screen = Screen();
        Assert.Contains("<bob> hello alice", screen, StringComparison.Ordinal);
        Assert.Contains("<alice> hi bob", screen, StringComparison.Ordinal);
        Assert.Contains("Transfers (1)", screen, StringComparison.Ordinal);
        Assert.Matches(@"album/\s+\[#+-+\]\s+45%", screen);
        Assert.Contains("bob offers photos/ (12 files, 3.0 MiB) — F2 accept · F3 reject", screen, StringComparison.Ordinal);
        Assert.Contains("alice @ server · online · TLS", screen, StringComparison.Ordinal);
    }

    [Fact]
    public void Enter_submits_the_line_and_clears_it_history_brings_it_back_and_F2_accepts_the_offer()
    {
        var submitted = new List<string>();
        var decided = new List<(string, bool)>();
        _window.Submitted += submitted.Add;
        _window.Decided += (id, yes) => decided.Add((id, yes));
        ScreenModel.OfferPrompt[] offer = [new ScreenModel.OfferPrompt("0000abcd", "photos/", "bob", 12, 3 << 20)];
        _window.Show(Snapshot(offers: offer));
        foreach (var c in "hello there") _app.InjectKey(c);
        Assert.Equal("hello there", _window.Typed);
        // Text arriving while typing never touches the input line.
        _window.Show(Snapshot(offers: offer, lines: "<bob> interrupting"));
        Assert.Equal("hello there", _window.Typed);
        _app.InjectKey(Key.Enter);
        Assert.Equal(["hello there"], submitted);
        Assert.Equal("", _window.Typed);
        _app.InjectKey(Key.CursorUp);
        Assert.Equal("hello there", _window.Typed);
        _app.InjectKey(Key.F2);
        Assert.Equal([("0000abcd", true)], decided);
    }

    [Fact]
    public void Tab_completes_commands_and_names()
    {
        _window.Show(Snapshot());
        foreach (var c in "/ms") _app.InjectKey(c);
        _app.InjectKey(Key.Tab);
        Assert.Equal("/msg ", _window.Typed);
        _app.InjectKey('b');
        _app.InjectKey(Key.Tab);
        Assert.Equal("/msg bob ", _window.Typed);
    }

    [Fact]
    public void Readline_keys_edit_the_input_line()
    {
        var submitted = new List<string>();
        _window.Submitted += submitted.Add;
        _window.Show(Snapshot());
        void Type(string text)
        {
            foreach (var c in text) _app.InjectKey(c);
        }

        Type("hello wrold");
        _app.InjectKey(Key.W.WithCtrl);
        Type("world");
        Assert.Equal("hello world", _window.Typed);
        // Terminal.Gui's own Ctrl+A selects the whole line, and the next letter typed would replace it.
        _app.InjectKey(Key.A.WithCtrl);
        Type("> ");
        Assert.Equal("> hello world", _window.Typed);
        _app.InjectKey(Key.E.WithCtrl);
        Type("!");
        Assert.Equal("> hello world!", _window.Typed);
        _app.InjectKey(Key.A.WithCtrl);
        _app.InjectKey(Key.CursorRight);
        _app.InjectKey(Key.CursorRight);
        _app.InjectKey(Key.K.WithCtrl);
        Assert.Equal("> ", _window.Typed);
        Type("junk");
        _app.InjectKey(Key.U.WithCtrl);
        Assert.Equal("", _window.Typed);
        Type("ok");
        _app.InjectKey(Key.Enter);
        Assert.Equal(["ok"], submitted);
    }

    [Fact]
    public void After_a_resize_no_row_is_wider_than_the_screen()
    {
        _window.Show(Snapshot([Row("a-folder-with-a-rather-long-name/", 30, 100), Row("x.bin", 99, 100)]));
        Screen();
        _app.Driver!.SetScreenSize(50, 20);
        var screen = Screen();
        var lines = screen.Split('\n');
        Assert.All(lines, l => Assert.True(l.TrimEnd('\r').Length <= 50, $"wider than 50: '{l}'"));
        Assert.Contains("x.bin", screen, StringComparison.Ordinal);
        Assert.Contains("99%", screen, StringComparison.Ordinal);
    }

    private static readonly ScreenModel.ConversationInfo[] ThreeRooms =
        [new(null, 2, ""), new("#lan", 0, "lan_party tonight"), new("#dev_ops", 5, "")];

    private static UiSnapshot InRooms(string? inView, params ScreenModel.LogLine[] lines) =>
        new(lines, [], [], "alice @ server · online · TLS · 2 online: bob, server", ["bob", "server"])
        {
            WholeLog = true,
            Conversations = ThreeRooms,
            InView = inView,
            Rooms = ["#lan", "#dev_ops", "#games"],
        };

    [Fact]
    public void The_rooms_line_shows_each_conversation_with_its_unread_count_and_marks_the_one_in_view_on_an_80x24_terminal()
    {
        _app.Driver!.SetScreenSize(80, 24);
        _window.Show(Snapshot(lines: "<bob> hello alice"));
        // Nothing to switch to yet: no rooms line.
        Assert.DoesNotContain("1 everyone", Screen(), StringComparison.Ordinal);

        _window.Show(InRooms("#lan", new ScreenModel.LogLine(T, ScreenModel.LineKind.Chat, "<bob> in the lan room")));
        var screen = Screen();
        Assert.Contains("1 everyone (2)  [2 #lan]  3 #dev_ops (5)", screen, StringComparison.Ordinal);
        // In the title, the room in view and its topic; '_' is no hot key mark here.
        Assert.Contains("#lan: lan_party tonight", screen, StringComparison.Ordinal);
        Assert.Contains("<bob> in the lan room", screen, StringComparison.Ordinal);
        // The whole log of the room in view, not added to what the server-wide room showed.
        Assert.DoesNotContain("hello alice", screen, StringComparison.Ordinal);
        var lines = screen.TrimEnd('\n').Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal(24, lines.Count);
        Assert.All(lines, l => Assert.True(l.Length <= 80, $"wider than 80: '{l}'"));
        // Above the status line, which stays where it was.
        Assert.Contains("1 everyone", lines[^4], StringComparison.Ordinal);
        Assert.Contains("alice @ server", lines[^3], StringComparison.Ordinal);
    }

    [Fact]
    public void A_narrow_rooms_line_keeps_the_room_in_view_and_marks_what_it_leaves_out()
    {
        ScreenModel.ConversationInfo[] many = [new(null, 0, ""), .. Enumerable.Range(1, 14).Select(i => new ScreenModel.ConversationInfo($"#room{i}", i, ""))];
        var line = ChatWindow.RoomsLine(many, "#room11", 40);
        Assert.True(line.Length <= 40, line);
        Assert.Contains("[12 #room11 (11)]", line, StringComparison.Ordinal);
        Assert.StartsWith("…", line, StringComparison.Ordinal);
        Assert.EndsWith("…", line, StringComparison.Ordinal);
        Assert.StartsWith("[1 everyone]  2 #room1 (1)", ChatWindow.RoomsLine(many, null, 40), StringComparison.Ordinal);
    }

    [Fact]
    public void Alt_arrows_and_ctrl_n_p_step_through_the_rooms_and_alt_number_chooses_one()
    {
        var steps = new List<int>();
        var chosen = new List<string?>();
        _window.RoomStepped += steps.Add;
        _window.RoomChosen += chosen.Add;
        _window.Show(InRooms("#lan"));
        foreach (var c in "typed") _app.InjectKey(c);
        _app.InjectKey(Key.CursorRight.WithAlt);
        _app.InjectKey(Key.N.WithCtrl);
        _app.InjectKey(Key.CursorLeft.WithAlt);
        _app.InjectKey(Key.P.WithCtrl);
        Assert.Equal([1, 1, -1, -1], steps);
        _app.InjectKey(Key.D3.WithAlt);
        _app.InjectKey(Key.D1.WithAlt);
        _app.InjectKey(Key.D9.WithAlt); // no ninth conversation: nothing
        Assert.Equal(["#dev_ops", null], chosen);
        // Switching leaves the line being typed alone.
        Assert.Equal("typed", _window.Typed);
    }

    [Fact]
    public void History_lines_show_the_date_and_time_they_were_said_dimmed()
    {
        var said = new DateTimeOffset(2026, 11, 2, 9, 30, 0, TimeSpan.Zero);
        _window.Show(InRooms("#lan",
            new ScreenModel.LogLine(said, ScreenModel.LineKind.History, "<bob> from the past"),
            new ScreenModel.LogLine(said, ScreenModel.LineKind.Separator, "history above; /history shows earlier lines"),
            new ScreenModel.LogLine(T, ScreenModel.LineKind.Chat, "<bob> live")));
        var screen = Screen();
        var stamp = said.ToLocalTime().ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains($"{stamp} <bob> from the past", screen, StringComparison.Ordinal);
        Assert.Contains("──── history above; /history shows earlier lines ────", screen, StringComparison.Ordinal);
        var rows = screen.Split('\n');
        int Row(string text) => Array.FindIndex(rows, r => r.Contains(text, StringComparison.Ordinal));
        Terminal.Gui.Drawing.Color Ink(string text) => _app.Driver!.Contents![Row(text), rows[Row(text)].IndexOf(text, StringComparison.Ordinal)].Attribute!.Value.Foreground;
        Assert.Equal(new Terminal.Gui.Drawing.Color(Terminal.Gui.Drawing.ColorName16.DarkGray), Ink("from the past"));
        Assert.Equal(new Terminal.Gui.Drawing.Color(Terminal.Gui.Drawing.ColorName16.DarkGray), Ink("history above"));
        Assert.NotEqual(Ink("from the past"), Ink("<bob> live"));
    }

    [Fact]
    public void Tab_completes_room_names_after_a_hash_and_in_the_room_commands()
    {
        _window.Show(InRooms("#lan"));
        void Type(string text)
        {
            foreach (var c in text) _app.InjectKey(c);
        }

        Type("/join ga");
        _app.InjectKey(Key.Tab);
        Assert.Equal("/join #games ", _window.Typed);
        _app.InjectKey(Key.U.WithCtrl);
        Type("see you in #de");
        _app.InjectKey(Key.Tab);
        Assert.Equal("see you in #dev_ops ", _window.Typed);
    }

    public void Dispose()
    {
        _window.Dispose();
        _app.Dispose();
    }
}
