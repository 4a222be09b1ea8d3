using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;
using AkkaTcpTransfer.Presentation;
using Terminal.Gui.App;
using Terminal.Gui.Drawing;
using Terminal.Gui.Input;
using Terminal.Gui.ViewBase;
using Terminal.Gui.Views;

namespace AkkaTcpTransfer.Tui;

/// <summary>The full-screen window: the log of the conversation in view on top, transfers panel, the offer waiting for
/// a decision, the rooms line (once there is a room to switch to), a status line, and the input line at the bottom,
/// which nothing but the person's typing changes. It only copies snapshots into its widgets (<see cref="Show"/>, on the
/// UI thread) and reports what the person does (<see cref="Submitted"/>, <see cref="Decided"/>,
/// <see cref="RoomChosen"/>, <see cref="RoomStepped"/>, <see cref="QuitRequested"/>).</summary>
internal sealed class ChatWindow : Window
{
    /// <summary>Log lines kept on screen (scrollback).</summary>
    public const int Scrollback = 2000;

    /// <summary>The server-wide room's name in the rooms line: every client is in it, and it has no "#name".</summary>
    public const string Everyone = "everyone";

    private readonly string _title;
    private readonly ObservableCollection<string> _log = [];
    /// <summary>Beside <see cref="_log"/>, line for line: how each line is drawn (history dimmed).</summary>
    private readonly List<ScreenModel.LineKind> _kinds = [];
    private readonly ObservableCollection<string> _rows = [];
    private readonly ListView _logView;
    private readonly FrameView _transfers;
    private readonly ListView _rowView;
    private readonly Label _offer;
    private readonly Label _roomsLine;
    private readonly Label _status;
    private readonly TextField _input;
    private readonly List<string> _history = [];
    private int _historyAt;
    private IReadOnlyList<ScreenModel.TransferRow> _lastRows = [];
    private ScreenModel.OfferPrompt? _pending;
    private IReadOnlyList<ScreenModel.ConversationInfo> _conversations = [];
    private string? _inView;

    /// <summary>Names of people, rooms and files may hold '_', which a title or label takes for the mark of a hot key,
    /// and hides: this character is in no name.</summary>
    private static readonly Rune NoHotKey = (Rune)0xFFFF;

    public ChatWindow(string title)
    {
        _title = title;
        HotKeySpecifier = NoHotKey;
        Title = title;
        X = 0;
        Y = 0;
        Width = Dim.Fill();
        Height = Dim.Fill();
        BorderStyle = Terminal.Gui.Drawing.LineStyle.Single;

        _input = new TextField { X = 0, Y = Pos.AnchorEnd(1), Width = Dim.Fill(), Text = "" };
        _status = new Label { X = 0, Y = Pos.AnchorEnd(2), Width = Dim.Fill(), Height = 1, Text = "", HotKeySpecifier = NoHotKey };
        _roomsLine = new Label { X = 0, Y = Pos.AnchorEnd(3), Width = Dim.Fill(), Height = 1, Text = "", Visible = false, HotKeySpecifier = NoHotKey };
        _roomsLine.FrameChanged += (_, _) => RenderRooms();
        _offer = new Label { X = 0, Y = Pos.AnchorEnd(3), Width = Dim.Fill(), Height = 1, Text = "", Visible = false, HotKeySpecifier = NoHotKey };
        _transfers = new FrameView { Title = "Transfers", X = 0, Y = Pos.AnchorEnd(5), Width = Dim.Fill(), Height = 2, Visible = false };
        _rowView = new ListView { X = 0, Y = 0, Width = Dim.Fill(), Height = Dim.Fill(), CanFocus = false };
        _rowView.SetSource(_rows);
        // A resize redraws the bars at the new width (the row view knows it once laid out).
        _rowView.FrameChanged += (_, _) => RenderRows();
        _transfers.Add(_rowView);
        _logView = new ListView { X = 0, Y = 0, Width = Dim.Fill(), Height = Dim.Fill(Dim.Func(_ => BelowLog())), CanFocus = false };
        _logView.SetSource(_log);
        _logView.RowRender += (_, e) =>
        {
            if (e.Row < _kinds.Count && _kinds[e.Row] is ScreenModel.LineKind.History or ScreenModel.LineKind.Separator)
                e.RowAttribute = Dimmed(_logView.GetAttributeForRole(VisualRole.Normal));
        };
        Add(_logView, _transfers, _offer, _roomsLine, _status, _input);

        _input.Accepting += (_, e) =>
        {
            e.Handled = true;
            var line = _input.Text ?? "";
            _input.Text = "";
            if (line.Trim().Length == 0) return;
            if (_history.Count == 0 || _history[^1] != line) _history.Add(line);
            _historyAt = _history.Count;
            Submitted?.Invoke(line);
        };
        _input.KeyDown += (_, key) => OnInputKey(key);
        _input.SetFocus();
    }

    /// <summary>A line the person entered.</summary>
    public event Action<string>? Submitted;

    /// <summary>The person accepted (true) or rejected the offer shown (its id).</summary>
    public event Action<string, bool>? Decided;

    /// <summary>Ctrl+Q (or Ctrl+C): leave.</summary>
    public event Action? QuitRequested;

    /// <summary>Alt+1…Alt+9, Alt+0: the person chose the conversation of this room (null: the server-wide room).</summary>
    public event Action<string?>? RoomChosen;

    /// <summary>Alt+Right or Ctrl+N (1), Alt+Left or Ctrl+P (-1): the person steps to the next or previous conversation.</summary>
    public event Action<int>? RoomStepped;

    /// <summary>The names online (for completion).</summary>
    public IReadOnlyCollection<string> Peers { get; private set; } = [];

    /// <summary>Room names (for completion): those joined, and those of the last listing.</summary>
    public IReadOnlyCollection<string> Rooms { get; private set; } = [];

    /// <summary>The text being typed (for tests).</summary>
    public string Typed => _input.Text ?? "";

    /// <summary>Rows of the transfers panel, the prompt and the rooms line, above the status and input lines.</summary>
    private int BelowLog() => 2 + (_roomsLine.Visible ? 1 : 0) + (_offer.Visible ? 1 : 0) + (_transfers.Visible ? _transfers.Frame.Height : 0);

    /// <summary>Copies a snapshot into the widgets (UI thread).</summary>
    public void Show(UiSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        // Lines from the end the person scrolled back to (0: following the end), and whether another conversation came.
        var fromEnd = _logView.SelectedItem is { } selected ? Math.Max(0, _log.Count - 1 - selected) : 0;
        var switched = snapshot.InView != _inView;
        if (snapshot.WholeLog)
        {
            _log.Clear();
            _kinds.Clear();
        }
        foreach (var line in snapshot.NewLines)
        {
            _log.Add(Format(line));
            _kinds.Add(line.Kind);
        }
        while (_log.Count > Scrollback)
        {
            _log.RemoveAt(0);
            _kinds.RemoveAt(0);
        }
        if (fromEnd == 0 || switched)
        {
            if (snapshot.NewLines.Count > 0 || snapshot.WholeLog) _logView.MoveEnd();
        }
        // History placed above what the person is reading leaves it where it was on the screen.
        else if (snapshot.WholeLog) _logView.SelectedItem = Math.Max(0, _log.Count - 1 - fromEnd);

        _conversations = snapshot.Conversations;
        _inView = snapshot.InView;
        // Only once there is somewhere to switch to: until then the log has the line.
        _roomsLine.Visible = _conversations.Count > 1;
        RenderRooms();
        var topic = _conversations.FirstOrDefault(c => c.Room is not null && c.Room == _inView)?.Topic ?? "";
        Title = _inView is null ? _title : $"{_title} · {_inView}{(topic.Length > 0 ? ": " + topic : "")}";

        _lastRows = snapshot.Rows;
        RenderRows();
        var rooms = _roomsLine.Visible ? 1 : 0;
        var height = Math.Min(Math.Max(snapshot.Rows.Count, 1), 8) + 2;
        _transfers.Visible = snapshot.Rows.Count > 0;
        _transfers.Title = $"Transfers ({snapshot.Rows.Count(r => r.State is not (ScreenModel.RowState.Done or ScreenModel.RowState.Failed))})";
        _transfers.Height = height;
        _transfers.Y = Pos.AnchorEnd(height + 2 + rooms + (snapshot.Offers.Count > 0 ? 1 : 0));

        _pending = snapshot.Offers.Count > 0 ? snapshot.Offers[0] : null;
        _offer.Visible = _pending is not null;
        _offer.Y = Pos.AnchorEnd(3 + rooms);
        _offer.Text = _pending is { } o
            ? $"{o.From} offers {o.Label} ({(o.Files > 1 ? $"{o.Files} files, " : "")}{AkkaTcpTransfer.Text.Units.Bytes(o.Bytes)}) — F2 accept · F3 reject" +
              (snapshot.Offers.Count > 1 ? $" · {snapshot.Offers.Count - 1} more waiting" : "")
            : "";
        _status.Text = snapshot.Status + "   (Ctrl+Q quits, /help)";
        Peers = snapshot.Peers;
        Rooms = snapshot.Rooms;
        SetNeedsLayout();
        SetNeedsDraw();
    }

    private void RenderRows()
    {
        var width = Math.Max(20, _rowView.Frame.Width > 0 ? _rowView.Frame.Width : (Frame.Width > 4 ? Frame.Width - 4 : 76));
        var rendered = _lastRows.Select(row => ScreenModel.Render(row, width)).ToList();
        if (rendered.SequenceEqual(_rows)) return;
        _rows.Clear();
        foreach (var line in rendered) _rows.Add(line);
    }

    private void RenderRooms()
    {
        var width = _roomsLine.Frame.Width > 0 ? _roomsLine.Frame.Width : (Frame.Width > 2 ? Frame.Width - 2 : 78);
        _roomsLine.Text = RoomsLine(_conversations, _inView, width);
    }

    /// <summary>"[1 everyone]  2 #lan (3)  3 #dev": each conversation with its number (Alt+number shows it) and the lines
    /// not yet seen in it; the one in view in brackets. Cut to <paramref name="width"/> around the one in view, "…"
    /// where conversations are left out; the keys that switch, where there is room.</summary>
    internal static string RoomsLine(IReadOnlyList<ScreenModel.ConversationInfo> conversations, string? inView, int width)
    {
        const string Gap = "  ";
        const string Hint = "   (Alt+←/→ switches)";
        if (conversations.Count == 0) return "";
        var items = conversations.Select((c, i) =>
        {
            var label = $"{i + 1} {c.Room ?? Everyone}{(c.Unread > 0 ? $" ({c.Unread})" : "")}";
            return c.Room == inView ? $"[{label}]" : label;
        }).ToList();
        var shown = Math.Max(0, conversations.Select(c => c.Room).ToList().IndexOf(inView));
        // From the first conversation if the one in view fits that way, else from a later one.
        for (var start = 0; start <= shown; start++)
        {
            var line = start > 0 ? "…" : "";
            var end = start;
            for (; end < items.Count; end++)
            {
                var longer = (line.Length > 0 ? line + Gap : "") + items[end];
                // Room is kept for the "…" that says more follow.
                if (longer.Length > width - (end + 1 < items.Count ? Gap.Length + 1 : 0)) break;
                line = longer;
            }
            if (end <= shown) continue;
            if (end < items.Count) return line + Gap + "…";
            return line.Length + Hint.Length <= width ? line + Hint : line;
        }
        return ScreenModel.Fit(items[shown], width);
    }

    /// <summary>Adds a line of its own (help, completion candidates) to the log.</summary>
    public void Note(string text)
    {
        foreach (var line in text.Split('\n'))
        {
            _log.Add("      " + line.TrimEnd('\r'));
            _kinds.Add(ScreenModel.LineKind.Notice);
        }
        while (_log.Count > Scrollback)
        {
            _log.RemoveAt(0);
            _kinds.RemoveAt(0);
        }
        _logView.MoveEnd();
        SetNeedsDraw();
    }

    /// <summary>A line as the log shows it: the time it came, or for history the time it was said, with its date
    /// when that was not today.</summary>
    private static string Format(ScreenModel.LogLine line) => line.Kind switch
    {
        ScreenModel.LineKind.History => $"{Said(line.At)} {line.Text}",
        ScreenModel.LineKind.Separator => $"      ──── {line.Text} ────",
        _ => $"{line.At.ToLocalTime().ToString("HH:mm", CultureInfo.InvariantCulture)} {Mark(line.Kind)}{line.Text}",
    };

    private static string Said(DateTimeOffset at)
    {
        var local = at.ToLocalTime();
        var format = local.Date == DateTimeOffset.Now.Date ? "HH:mm" : "yyyy-MM-dd HH:mm";
        return local.ToString(format, CultureInfo.InvariantCulture);
    }

    private static string Mark(ScreenModel.LineKind kind) => kind switch
    {
        ScreenModel.LineKind.Notice => "* ",
        ScreenModel.LineKind.Error => "! ",
        _ => "",
    };

    /// <summary>History in grey: there, but not what is being said now. A colour rather than the faint style, which
    /// not every terminal draws.</summary>
    private static Terminal.Gui.Drawing.Attribute Dimmed(Terminal.Gui.Drawing.Attribute normal) => normal with { Foreground = new Color(ColorName16.DarkGray) };

    private void OnInputKey(Key key)
    {
        if (key == Key.CursorUp && _history.Count > 0)
        {
            _historyAt = Math.Max(0, _historyAt - 1);
            _input.Text = _history[_historyAt];
            _input.MoveEnd();
            key.Handled = true;
        }
        else if (key == Key.CursorDown && _history.Count > 0)
        {
            _historyAt = Math.Min(_history.Count, _historyAt + 1);
            _input.Text = _historyAt < _history.Count ? _history[_historyAt] : "";
            _input.MoveEnd();
            key.Handled = true;
        }
        else if (key == Key.Tab)
        {
            var (line, candidates) = Completion.Complete(_input.Text ?? "", Peers, rooms: Rooms);
            _input.Text = line;
            _input.MoveEnd();
            if (candidates.Count > 1) Note(string.Join("  ", candidates.Take(40)));
            key.Handled = true;
        }
        else if (key == Key.PageUp)
        {
            _logView.MovePageUp();
            key.Handled = true;
        }
        else if (key == Key.PageDown)
        {
            _logView.MovePageDown();
            key.Handled = true;
        }
        else if (key == Key.F2 && _pending is { } accept)
        {
            Decided?.Invoke(accept.Id, true);
            key.Handled = true;
        }
        else if (key == Key.F3 && _pending is { } reject)
        {
            Decided?.Invoke(reject.Id, false);
            key.Handled = true;
        }
        else if (key == Key.CursorRight.WithAlt || key == Key.N.WithCtrl)
        {
            RoomStepped?.Invoke(1);
            key.Handled = true;
        }
        else if (key == Key.CursorLeft.WithAlt || key == Key.P.WithCtrl)
        {
            RoomStepped?.Invoke(-1);
            key.Handled = true;
        }
        else if (Numbered(key) is { } number)
        {
            // As irssi's Alt+1…Alt+0: the tenth is Alt+0. A number with no conversation does nothing.
            if (number <= _conversations.Count) RoomChosen?.Invoke(_conversations[number - 1].Room);
            key.Handled = true;
        }
        else if (key == Key.Q.WithCtrl || key == Key.C.WithCtrl)
        {
            QuitRequested?.Invoke();
            key.Handled = true;
        }
        else if (key == Key.Esc)
        {
            // Esc would quit and drop the typed line (Terminal.Gui's default): here it only clears the line.
            _input.Text = "";
            key.Handled = true;
        }
        else if (ReadlineEdit(key) is { } edit)
        {
            var (text, cursor) = LineEditing.Apply(edit, _input.Text ?? "", _input.InsertionPoint);
            _input.Text = text;
            _input.InsertionPoint = cursor;
            key.Handled = true;
        }
    }

    private static readonly Key[] Digits = [Key.D1, Key.D2, Key.D3, Key.D4, Key.D5, Key.D6, Key.D7, Key.D8, Key.D9, Key.D0];

    /// <summary>1 to 10 for Alt+1 … Alt+9, Alt+0; else null.</summary>
    private static int? Numbered(Key key)
    {
        var at = Array.FindIndex(Digits, d => key == d.WithAlt);
        return at < 0 ? null : at + 1;
    }

    /// <summary>The readline keys the input line honours. Ctrl+E and Ctrl+K are the text field's already, but are done
    /// here too so that all five behave alike: its Ctrl+K also puts the text on the system clipboard, through a shell
    /// running xclip.</summary>
    private static LineEditing.Edit? ReadlineEdit(Key key) =>
        key == Key.A.WithCtrl ? LineEditing.Edit.StartOfLine
        : key == Key.E.WithCtrl ? LineEditing.Edit.EndOfLine
        : key == Key.U.WithCtrl ? LineEditing.Edit.DeleteToStart
        : key == Key.K.WithCtrl ? LineEditing.Edit.DeleteToEnd
        : key == Key.W.WithCtrl ? LineEditing.Edit.DeleteWordBefore
        : null;
}
