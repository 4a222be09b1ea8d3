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

    public void Dispose()
    {
        _window.Dispose();
        _app.Dispose();
    }
}
