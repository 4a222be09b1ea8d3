using System.Diagnostics;
using System.Globalization;
using AkkaTcpTransfer.Benchmarks;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>The full-screen UI on a real terminal (tmux): typing while text arrives, readline's editing keys, sending a
/// file and a folder, accepting a folder offer with one key, a room with its history, and a screen with no stale or
/// split lines.</summary>
public sealed class TuiCliTests : IDisposable
{
    private const int Width = 110;
    private const int Height = 32;
    private readonly string _root = Directory.CreateTempSubdirectory("att-cli-tui-").FullName;
    private readonly string _session = $"att-tui-{Environment.ProcessId}-{Guid.NewGuid():N}"[..28];

    private static string? Tmux() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "tmux")).FirstOrDefault(File.Exists);

    private static async Task<string> Run(params string[] args)
    {
        var info = new ProcessStartInfo(Tmux()!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        return output;
    }

    private Task<string> Screen() => Run("capture-pane", "-p", "-t", _session);

    private Task<string> Type(string text) => Run("send-keys", "-t", _session, "-l", text);

    private Task<string> Key(string key) => Run("send-keys", "-t", _session, key);

    /// <summary>The screen once it shows <paramref name="text"/>; screens are polled (tmux has no events to await).</summary>
    private async Task<string> ScreenWith(string text, int timeoutSeconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        string screen;
        do
        {
            screen = await Screen();
            if (screen.Contains(text, StringComparison.Ordinal)) return screen;
            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        throw new TimeoutException($"the screen never showed '{text}':\n{screen}");
    }

    private string MakeFile(string relative, int size, int seed)
    {
        var path = Path.Combine(_root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        File.WriteAllBytes(path, data);
        return path;
    }

    [SkippableFact]
    public async Task Chat_a_file_a_folder_and_a_folder_offer_in_the_full_screen_ui_with_a_clean_screen()
    {
        Skip.If(Tmux() is null, "tmux is not installed (.ci/run installs it where it can)");
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--downloads", Path.Combine(_root, "server-dl"), "--state-dir", Path.Combine(_root, "server-state"));
        var port = await server.Listening();
        var aliceDownloads = Path.Combine(_root, "alice-dl");
        var command = $"XDG_DATA_HOME='{_root}' dotnet '{CliProcess.Assembly}' client --port {port.ToString(CultureInfo.InvariantCulture)} --name alice " +
                      $"--fingerprint {server.Fingerprint} --state-dir '{Path.Combine(_root, "alice-state")}' --downloads '{aliceDownloads}'; echo EXIT=$?; sleep 30";
        await Run("new-session", "-d", "-s", _session, "-x", Width.ToString(CultureInfo.InvariantCulture), "-y", Height.ToString(CultureInfo.InvariantCulture), command);

        await ScreenWith("connected to server as alice");
        await Type("hello from the terminal");
        await Key("Enter");
        await server.WaitFor("chat", e => e.GetProperty("text").GetString() == "hello from the terminal");
        await ScreenWith("<alice> hello from the terminal");

        // Half a line typed, then chat arrives: the line being typed stays whole, and is sent whole.
        await Type("half typed, then");
        await server.SendLine("/msg alice interrupting you");
        var interrupted = await ScreenWith("interrupting you");
        Assert.Contains("half typed, then", interrupted.Split('\n')[^2] + interrupted.Split('\n')[^3], StringComparison.Ordinal);
        await Type(" finished");
        await Key("Enter");
        await server.WaitFor("chat", e => e.GetProperty("text").GetString() == "half typed, then finished");

        // A file and a folder to the server, in one /send.
        var file = MakeFile("up/report.bin", 3_000_000, 1);
        MakeFile("up/album/a.bin", 1_000_000, 2);
        MakeFile("up/album/sub/b.bin", 2_000_000, 3);
        await Type($"/send {file} {Path.Combine(_root, "up", "album")}");
        await Key("Enter");
        await server.WaitFor("transfer-completed", e => e.GetProperty("file").GetString() == "report.bin");
        await server.WaitFor("transfer-completed", e => e.GetProperty("file").GetString() == "album/"); // its files in one transfer
        await ScreenWith("album/ sent to server: 2 of 2 files");

        // The server offers a folder: one prompt, one key.
        MakeFile("down/photos/1.jpg", 500_000, 4);
        MakeFile("down/photos/2.jpg", 600_000, 5);
        await server.SendLine($"/send alice {Path.Combine(_root, "down", "photos")}");
        await ScreenWith("F2 accept");
        await Key("F2");
        var settled = await ScreenWith("photos/ received from server: 2 of 2 files");
        Assert.True(File.Exists(Path.Combine(aliceDownloads, "photos", "1.jpg")));
        Assert.True(File.Exists(Path.Combine(aliceDownloads, "photos", "2.jpg")));

        // No stale or split lines: the screen is exactly the terminal's size, every line typed or received shows once.
        var lines = settled.TrimEnd('\n').Split('\n');
        Assert.Equal(Height, lines.Length);
        Assert.All(lines, l => Assert.True(l.Length <= Width, $"{l.Length} columns: {l}"));
        Assert.Single(lines, l => l.Contains("<alice> hello from the terminal", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("<alice> half typed, then finished", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("interrupting you", StringComparison.Ordinal));

        await Key("C-q");
        await ScreenWith("EXIT=0");
    }

    [SkippableFact]
    public async Task A_paste_of_300_lines_into_the_full_screen_ui_arrives_whole_and_in_order_and_the_queue_shows()
    {
        Skip.If(Tmux() is null, "tmux is not installed (.ci/run installs it where it can)");
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--state-dir", Path.Combine(_root, "server-state"));
        var port = await server.Listening();
        var command = $"XDG_DATA_HOME='{_root}' dotnet '{CliProcess.Assembly}' client --port {port.ToString(CultureInfo.InvariantCulture)} --name alice " +
                      $"--fingerprint {server.Fingerprint} --state-dir '{Path.Combine(_root, "alice-state")}' --downloads '{Path.Combine(_root, "dl")}'; echo EXIT=$?; sleep 30";
        await Run("new-session", "-d", "-s", _session, "-x", Width.ToString(CultureInfo.InvariantCulture), "-y", Height.ToString(CultureInfo.InvariantCulture), command);
        await ScreenWith("connected to server as alice");

        // A paste, as a terminal delivers it: every line followed by a carriage return, all at once.
        var paste = Path.Combine(_root, "paste.txt");
        await File.WriteAllTextAsync(paste, string.Concat(Enumerable.Range(1, 300).Select(i => $"pasted line {i:000}\n")));
        await Run("load-buffer", "-b", "paste", paste);
        await Run("paste-buffer", "-b", "paste", "-t", _session);
        // The lines beyond the server's burst (200) wait, and the status line says how many.
        await ScreenWith("line(s) queued");
        await server.WaitFor("chat", e => e.GetProperty("text").GetString() == "pasted line 300");
        var received = server.Events().Where(e => JsonEventProcess.Is(e, "chat") && e.GetProperty("from").GetString() == "alice")
            .Select(e => e.GetProperty("text").GetString()).ToList();
        Assert.Equal(Enumerable.Range(1, 300).Select(i => $"pasted line {i:000}"), received);
        // Once all are sent the count goes, and the last line shows as the person's own.
        var done = await ScreenWith("<alice> pasted line 300");
        Assert.DoesNotContain("queued", done, StringComparison.Ordinal);
        await Key("C-q");
        await ScreenWith("EXIT=0");
    }

    [SkippableFact]
    public async Task Readline_keys_edit_the_line_before_it_is_sent()
    {
        Skip.If(Tmux() is null, "tmux is not installed (.ci/run installs it where it can)");
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--state-dir", Path.Combine(_root, "server-state"));
        var port = await server.Listening();
        var command = $"XDG_DATA_HOME='{_root}' dotnet '{CliProcess.Assembly}' client --port {port.ToString(CultureInfo.InvariantCulture)} --name alice " +
                      $"--fingerprint {server.Fingerprint} --state-dir '{Path.Combine(_root, "alice-state")}' --downloads '{Path.Combine(_root, "dl")}'; echo EXIT=$?; sleep 30";
        await Run("new-session", "-d", "-s", _session, "-x", Width.ToString(CultureInfo.InvariantCulture), "-y", Height.ToString(CultureInfo.InvariantCulture), command);
        await ScreenWith("connected to server as alice");

        // Each line as the server received it. send-keys writes to the program directly, past tmux's own key bindings,
        // so C-a reaches it even where C-a is tmux's prefix.
        async Task<string?> Sent(params string[] keys)
        {
            var mark = server.Mark();
            foreach (var key in keys)
                await (key.StartsWith("C-", StringComparison.Ordinal) ? Key(key) : Type(key));
            await Key("Enter");
            var chat = await server.WaitFor("chat", e => e.GetProperty("from").GetString() == "alice", mark);
            return chat.GetProperty("text").GetString();
        }

        Assert.Equal("hello world", await Sent("hello wrold", "C-w", "world"));
        Assert.Equal("ok", await Sent("junk", "C-u", "ok"));
        Assert.Equal("hello world!", await Sent("world", "C-a", "hello ", "C-e", "!"));
        Assert.Equal("kept", await Sent("dropped", "C-a", "C-k", "kept"));
        // The server has the line; quitting before its confirmation is back would be quitting with a line unconfirmed
        // (exit 4). The line shows as the person's own once confirmed.
        await ScreenWith("<alice> kept");
        await Key("C-q");
        await ScreenWith("EXIT=0");
    }

    [SkippableFact]
    public async Task A_room_joined_in_the_full_screen_ui_shows_in_the_rooms_line_with_its_history_takes_typed_lines_and_counts_unread_ones()
    {
        Skip.If(Tmux() is null, "tmux is not installed (.ci/run installs it where it can)");
        await using var server = CliProcess.Start("server", "--port", "0", "--json", "--state-dir", Path.Combine(_root, "server-state"));
        var port = await server.Listening();
        await using var bob = CliProcess.Client(server, port, "--name", "bob", "--json", "--state-dir", Path.Combine(_root, "bob-state"),
            "--downloads", Path.Combine(_root, "bob-dl"));
        await bob.WaitFor("connected");
        await bob.SendLine("/join #lan");
        await bob.WaitFor("room-joined");
        await bob.SendLine("/msg #lan said before alice came");
        await bob.WaitFor("chat-sent", e => e.GetProperty("text").GetString() == "said before alice came");

        // The smallest terminal people use.
        var command = $"XDG_DATA_HOME='{_root}' dotnet '{CliProcess.Assembly}' client --port {port.ToString(CultureInfo.InvariantCulture)} --name alice " +
                      $"--fingerprint {server.Fingerprint} --state-dir '{Path.Combine(_root, "alice-state")}' --downloads '{Path.Combine(_root, "dl")}'; echo EXIT=$?; sleep 30";
        await Run("new-session", "-d", "-s", _session, "-x", "80", "-y", "24", command);
        await ScreenWith("connected to server as alice");

        await Type("/join #lan");
        await Key("Enter");
        await ScreenWith("[2 #lan]");
        // What was said before, with the time it was said (and its date, should the day have turned since).
        var joined = await ScreenWith("<bob> said before alice came");
        Assert.Matches(@"(\d{4}-\d\d-\d\d )?\d\d:\d\d <bob> said before alice came", joined);

        // Text typed goes to the room in view.
        await Type("hello room");
        await Key("Enter");
        await bob.WaitFor("chat", e => e.GetProperty("text").GetString() == "hello room" && e.GetProperty("to").GetString() == "#lan");

        // Away from the room, its lines are counted; /join of a room one is in goes back to it.
        await Key("M-Left");
        await ScreenWith("[1 everyone]");
        await bob.SendLine("/msg #lan are you there?");
        await ScreenWith("2 #lan (1)");
        await Type("/join #lan");
        await Key("Enter");
        var back = await ScreenWith("[2 #lan]");
        Assert.Contains("<bob> are you there?", back, StringComparison.Ordinal);
        Assert.All(back.TrimEnd('\n').Split('\n'), l => Assert.True(l.Length <= 80, $"{l.Length} columns: {l}"));

        await Key("C-q");
        await ScreenWith("EXIT=0");
    }

    public void Dispose()
    {
        if (Tmux() is not null) Run("kill-session", "-t", _session).Wait(TimeSpan.FromSeconds(10));
        Directory.Delete(_root, recursive: true);
    }
}
