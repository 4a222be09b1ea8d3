using System.Collections.ObjectModel;
using AkkaTcpTransfer.Presentation;
using Terminal.Gui.App;
using Terminal.Gui.Input;
using Terminal.Gui.ViewBase;
using Terminal.Gui.Views;

namespace AkkaTcpTransfer.Tui;

/// <summary>The full-screen window: chat log on top, transfers panel, the offer waiting for a decision, a status line,
/// and the input line at the bottom, which nothing but the person's typing changes. It only copies snapshots into its
/// widgets (<see cref="Show"/>, on the UI thread) and reports what the person does (<see cref="Submitted"/>,
/// <see cref="Decided"/>, <see cref="QuitRequested"/>).</summary>
public sealed class ChatWindow : Window
{
    /// <summary>Log lines kept on screen (scrollback).</summary>
    public const int Scrollback = 2000;

    private readonly ObservableCollection<string> _log = [];
    private readonly ObservableCollection<string> _rows = [];
    private readonly ListView _logView;
    private readonly FrameView _transfers;
    private readonly ListView _rowView;
    private readonly Label _offer;
    private readonly Label _status;
    private readonly TextField _input;
    private readonly List<string> _history = [];
    private int _historyAt;
    private IReadOnlyList<ScreenModel.TransferRow> _lastRows = [];
    private ScreenModel.OfferPrompt? _pending;

    public ChatWindow(string title)
    {
        Title = title;
        X = 0;
        Y = 0;
        Width = Dim.Fill();
        Height = Dim.Fill();
        BorderStyle = Terminal.Gui.Drawing.LineStyle.Single;

        _input = new TextField { X = 0, Y = Pos.AnchorEnd(1), Width = Dim.Fill(), Text = "" };
        _status = new Label { X = 0, Y = Pos.AnchorEnd(2), Width = Dim.Fill(), Height = 1, Text = "" };
        _offer = new Label { X = 0, Y = Pos.AnchorEnd(3), Width = Dim.Fill(), Height = 1, Text = "", Visible = false };
        _transfers = new FrameView { Title = "Transfers", X = 0, Y = Pos.AnchorEnd(5), Width = Dim.Fill(), Height = 2, Visible = false };
        _rowView = new ListView { X = 0, Y = 0, Width = Dim.Fill(), Height = Dim.Fill(), CanFocus = false };
        _rowView.SetSource(_rows);
        // A resize redraws the bars at the new width (the row view knows it once laid out).
        _rowView.FrameChanged += (_, _) => RenderRows();
        _transfers.Add(_rowView);
        _logView = new ListView { X = 0, Y = 0, Width = Dim.Fill(), Height = Dim.Fill(Dim.Func(_ => BelowLog())), CanFocus = false };
        _logView.SetSource(_log);
        Add(_logView, _transfers, _offer, _status, _input);

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

    /// <summary>The names online (for completion).</summary>
    public IReadOnlyCollection<string> Peers { get; private set; } = [];

    /// <summary>The text being typed (for tests).</summary>
    public string Typed => _input.Text ?? "";

    /// <summary>Rows of the transfers panel and the prompt, above the status and input lines.</summary>
    private int BelowLog() => 2 + (_offer.Visible ? 1 : 0) + (_transfers.Visible ? _transfers.Frame.Height : 0);

    /// <summary>Copies a snapshot into the widgets (UI thread).</summary>
    public void Show(UiSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var atEnd = _logView.SelectedItem is null || _logView.SelectedItem >= _log.Count - 1;
        foreach (var line in snapshot.NewLines)
            _log.Add($"{line.At.ToLocalTime():HH:mm} {Mark(line.Kind)}{line.Text}");
        while (_log.Count > Scrollback) _log.RemoveAt(0);
        if (atEnd && snapshot.NewLines.Count > 0) _logView.MoveEnd();

        _lastRows = snapshot.Rows;
        RenderRows();
        var height = Math.Min(Math.Max(snapshot.Rows.Count, 1), 8) + 2;
        _transfers.Visible = snapshot.Rows.Count > 0;
        _transfers.Title = $"Transfers ({snapshot.Rows.Count(r => r.State is not (ScreenModel.RowState.Done or ScreenModel.RowState.Failed))})";
        _transfers.Height = height;
        _transfers.Y = Pos.AnchorEnd(height + 2 + (snapshot.Offers.Count > 0 ? 1 : 0));

        _pending = snapshot.Offers.Count > 0 ? snapshot.Offers[0] : null;
        _offer.Visible = _pending is not null;
        _offer.Text = _pending is { } o
            ? $"{o.From} offers {o.Label} ({(o.Files > 1 ? $"{o.Files} files, " : "")}{AkkaTcpTransfer.Text.Units.Bytes(o.Bytes)}) — F2 accept · F3 reject" +
              (snapshot.Offers.Count > 1 ? $" · {snapshot.Offers.Count - 1} more waiting" : "")
            : "";
        _status.Text = snapshot.Status + "   (Ctrl+Q quits, /help)";
        Peers = snapshot.Peers;
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

    /// <summary>Adds a line of its own (help, completion candidates) to the log.</summary>
    public void Note(string text)
    {
        foreach (var line in text.Split('\n')) _log.Add("      " + line.TrimEnd('\r'));
        while (_log.Count > Scrollback) _log.RemoveAt(0);
        _logView.MoveEnd();
        SetNeedsDraw();
    }

    private static string Mark(ScreenModel.LineKind kind) => kind switch
    {
        ScreenModel.LineKind.Notice => "* ",
        ScreenModel.LineKind.Error => "! ",
        _ => "",
    };

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
            var (line, candidates) = Completion.Complete(_input.Text ?? "", Peers);
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
