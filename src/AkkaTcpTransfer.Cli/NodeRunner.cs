using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Presentation;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cli;

/// <summary>How the program talks to its user: JSON lines (scripts), plain lines (a pipe, or --plain), or the
/// full-screen UI (a person at a terminal).</summary>
internal enum OutputMode { Json, Lines, Screen }

/// <summary>Runs one server or client node for the command line: config -> node -> stdin commands -> exit code.</summary>
internal sealed class NodeRunner(NodeRole role, OutputMode mode, TextReader input, TextWriter output, TextWriter error)
{
    private readonly bool json = mode == OutputMode.Json;
    /// <summary>Logging for the program: Akka's log lines go to stderr so that stdout carries events only.</summary>
    private static readonly Config CliLogging = ConfigurationFactory.ParseString("""
        akka.loggers = ["AkkaTcpTransfer.Cli.StderrLogger, akka-tcp-transfer"]
        akka.stdout-loglevel = OFF
        akka.loglevel = WARNING
        """);

    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TuiSession.Sink _screen = new();
    /// <summary>What the node still had to send when the person left (see <see cref="Quit"/>).</summary>
    private IReadOnlyList<string> _unfinished = [];
    private int _unsentLines;
    private string? _quitProblem;
    private NodeHost? _node;
    /// <summary>A server that started, until its web client has too (stopped if that fails).</summary>
    private ServerNode? _startedNode;
    private ScreenModel? _model;
    private IActorRef? _console;
    private string? _ended;
    private bool _asks;

    public async Task<int> RunAsync(IReadOnlyList<string> configFiles, IReadOnlyList<(string, string)> overrides)
    {
        Config config;
        NodeHost node;
        StderrLogger.Hold();
        try
        {
            config = NodeConfig.Build(role, configFiles, overrides).WithFallback(CliLogging);
            var settings = NodeSettings.Read(config, role);
            _asks = !settings.Transfer.AutoAccept;
            if (mode == OutputMode.Screen) _model = new ScreenModel(settings.Name, _asks);
            node = role == NodeRole.Server
                ? await ServerNode.StartAsync(config, settings.Cluster.Enabled ? new Cluster.ClusterPlugin() : null, BeforeStart)
                : await StartClientAsync(config);
            if (node is ServerNode server && settings.Web.Enabled) await StartWebAsync(server);
        }
        catch (ConfigException e)
        {
            StderrLogger.Release(write: false);
            if (_startedNode is not null) await _startedNode.DisposeAsync();
            return Fail(ExitCodes.BadArguments, e.Message);
        }
        catch (NodeStartException e)
        {
            StderrLogger.Release(write: false);
            if (_startedNode is not null) await _startedNode.DisposeAsync();
            return Fail(ExitCodes.CannotStart, e.Message);
        }
        if (mode == OutputMode.Screen)
        {
            // Nothing but the UI may write to the terminal: log lines go to a file in the state folder.
            var logFile = Path.Combine(node.Settings.StateDir, "akka-tcp-transfer.log");
            StderrLogger.RedirectTo(logFile);
        }
        StderrLogger.Release(write: true);

        CoordinatedShutdown.Get(node.System).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "flush-console", async () =>
        {
            // Every event published before the node stopped is written out before the process exits.
            try
            {
                if (_console is not null) await _console.Ask<ConsoleActor.Flushed>(ConsoleActor.Flush.Instance, TimeSpan.FromSeconds(3));
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                // best effort: the process is stopping anyway
            }
            return Akka.Done.Instance;
        });

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var refused = node.System.Subscribe<ConnectionRefused>(r =>
        {
            _ended = r.Reason;
            _exit.TrySetResult(ExitCodes.CannotStart);
        });
        using var lost = node.System.Subscribe<Disconnected>(d =>
        {
            if (d.WillReconnect) return;
            _ended = d.Reason;
            _exit.TrySetResult(ExitCodes.CannotStart);
        });
        _node = node;
        // The node ended by itself (a part it cannot work without failed, or it was refused): exit 1 with one line
        // saying why, unless a refusal above already chose the code.
        _ = node.Terminated.ContinueWith(t =>
        {
            if (_exit.Task.IsCompleted) return;
            _ended ??= t.IsCompletedSuccessfully ? t.Result.Reason : "the node stopped";
            _exit.TrySetResult(ExitCodes.Failure);
        }, TaskScheduler.Default);

        int code;
        if (mode == OutputMode.Screen)
        {
            code = TuiSession.Run(node, _screen, _exit.Task, Quit, (line, note) => Handle(node, line, note),
                (id, accept) => node.Commands.Tell(accept ? new NodeCommands.AcceptTransfer(id) : new NodeCommands.RejectTransfer(id)));
            // The terminal is back: what ended the session is said where the person can read it.
            if (code == ExitCodes.CannotStart && _ended is not null) error.WriteLine($"akka-tcp-transfer: {_ended}");
        }
        else
        {
            var reader = new Thread(() => ReadInput(node)) { IsBackground = true, Name = "stdin" };
            reader.Start();
            code = await _exit.Task;
        }
        if (code == ExitCodes.Failure && _quitProblem is not null) error.WriteLine($"akka-tcp-transfer: {_quitProblem}");
        else if (code == ExitCodes.Failure && _ended is not null) error.WriteLine($"akka-tcp-transfer: {_ended}");
        if (code == ExitCodes.TransferFailed && _unfinished is { Count: > 0 } unfinished)
            error.WriteLine($"akka-tcp-transfer: stopped with {unfinished.Count} outgoing transfer(s) unfinished: {string.Join(", ", unfinished.Take(10))}{(unfinished.Count > 10 ? ", …" : "")}; send them again to resume");
        if (code == ExitCodes.TransferFailed && _unsentLines > 0)
            error.WriteLine($"akka-tcp-transfer: stopped with {_unsentLines} chat line(s) not sent (queued at the server's pace, or not yet confirmed)");
        await node.StopAsync();
        return code;
    }

    /// <summary>The person leaves (a signal, /quit, Ctrl+Q): with outgoing transfers still unfinished, or chat lines not
    /// yet sent (a paste still leaving at the server's pace), the exit code is 4 and they are named or counted. The node
    /// itself is asked, not a tally of events: a send the person has just seen offered or waiting is surely counted.</summary>
    private void Quit() => _ = QuitAsync();

    private async Task QuitAsync()
    {
        if (_node is not { } node)
        {
            _exit.TrySetResult(ExitCodes.Ok);
            return;
        }
        try
        {
            // Within the full-screen UI's 2 s watchdog after a signal; the node answers in milliseconds.
            // Asked together: both answers within the one budget.
            var unfinished = node.UnfinishedOutgoingAsync(TimeSpan.FromSeconds(1.5));
            var unsent = node.UnsentChatAsync(TimeSpan.FromSeconds(1.5));
            _unfinished = await unfinished;
            _unsentLines = await unsent;
            _exit.TrySetResult(_unfinished.Count > 0 || _unsentLines > 0 ? ExitCodes.TransferFailed : ExitCodes.Ok);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            // The node did not answer (it is stopping anyway): whether something was left is unknown, so not "ok".
            _quitProblem = "could not tell whether outgoing transfers were unfinished: the node did not answer";
            _exit.TrySetResult(ExitCodes.Failure);
        }
    }

    /// <summary>Starts the client; when the server is unknown and a person is at the terminal, shows its fingerprint,
    /// asks, and on yes pins it and connects again (like ssh). Scripts get the refusal: they pass --fingerprint.</summary>
    private async Task<NodeHost> StartClientAsync(Config config)
    {
        try
        {
            return await ClientNode.StartAsync(config, BeforeStart);
        }
        catch (NodeStartException e) when (e is { Kind: StartFailure.NotTrusted, Trust: Security.TrustProblem.Unknown, ServerFingerprint: { } fingerprint }
                                           && !json && ReferenceEquals(input, Console.In) && !Console.IsInputRedirected && !Console.IsErrorRedirected)
        {
            var settings = NodeSettings.Read(config, NodeRole.Client);
            var known = new Security.KnownServers(Path.Combine(settings.StateDir, Security.KnownServers.FileName));
            var server = Security.KnownServers.Key(settings.Host, settings.Port);
            error.WriteLine($"The server at {server} is not known. Its key fingerprint is");
            error.WriteLine($"  {fingerprint}");
            error.WriteLine("Compare it with the fingerprint the server printed when it started (ask its operator).");
            error.Write($"Trust this server and remember it in {known.File}? [y/N] ");
            error.Flush();
            var answer = input.ReadLine()?.Trim();
            if (answer is null || !(answer.Equals("y", StringComparison.OrdinalIgnoreCase) || answer.Equals("yes", StringComparison.OrdinalIgnoreCase)))
                throw;
            if (!known.Add(server, fingerprint)) throw new NodeStartException(StartFailure.NotTrusted, $"cannot write {known.File}");
            return await ClientNode.StartAsync(config, BeforeStart);
        }
    }

    /// <summary>The browser client beside the server. It stops late in the node's shutdown, once the server has said
    /// goodbye to every client, those on WebSockets included.</summary>
    private async Task StartWebAsync(ServerNode server)
    {
        _startedNode = server;
        var web = await Web.WebClientServer.StartAsync(server);
        CoordinatedShutdown.Get(server.System).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "stop-web", async () =>
        {
            await web.DisposeAsync();
            return Akka.Done.Instance;
        });
    }

    private void BeforeStart(ActorSystem system)
    {
        if (mode == OutputMode.Screen)
        {
            TuiSession.Attach(system, _model!, _screen);
            return;
        }
        _console = ConsoleOutput.Start(system, output, json, live: !json && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected, asks: _asks);
    }

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // we stop cleanly ourselves
        Quit();
    }

    private void ReadInput(NodeHost node)
    {
        try
        {
            while (input.ReadLine() is { } line)
            {
                if (_exit.Task.IsCompleted) return;
                Handle(node, line, text => output.WriteLine(text));
            }
        }
        catch (IOException)
        {
            // stdin went away: same as its end
        }
        // End of input stops a client once its outgoing transfers are over; a server keeps running until /quit or a signal.
        if (role == NodeRole.Client) FinishOutgoingThenExit(node);
    }

    private void FinishOutgoingThenExit(NodeHost node)
    {
        // No timeout of our own: every transfer ends by itself (delivered, failed, or stalled past transfer.stall-timeout),
        // and every chat line is answered (lines queued at the server's pace leave at that pace).
        _ = Task.Run(async () =>
        {
            try
            {
                await node.ChatDoneAsync();
                var outgoing = await node.OutgoingDoneAsync();
                _exit.TrySetResult(outgoing.Failed > 0 ? ExitCodes.TransferFailed : ExitCodes.Ok);
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                _exit.TrySetResult(ExitCodes.Failure);
            }
        });
    }

    private void Handle(NodeHost node, string line, Action<string> note)
    {
        switch (InputCommand.Parse(line, _model?.Peers))
        {
            case null:
                break;
            case InputCommand.Say s:
                // In the full-screen UI, a line goes to the conversation the person is looking at.
                if (_model?.RoomInView is { } room) node.Commands.Tell(new NodeCommands.SayTo(room, s.Text));
                else node.Commands.Tell(new NodeCommands.Say(s.Text));
                break;
            case InputCommand.SayTo s:
                node.Commands.Tell(new NodeCommands.SayTo(s.To, s.Text));
                break;
            case InputCommand.Who:
                node.Commands.Tell(NodeCommands.Who.Instance);
                break;
            case InputCommand.Send send:
                foreach (var path in send.Paths) node.Commands.Tell(new NodeCommands.SendFile(send.To, path));
                break;
            case InputCommand.Cancel cancel:
                node.Commands.Tell(new NodeCommands.CancelTransfer(cancel.Id));
                break;
            case InputCommand.Accept accept:
                node.Commands.Tell(new NodeCommands.AcceptTransfer(accept.Id));
                break;
            case InputCommand.Reject reject:
                node.Commands.Tell(new NodeCommands.RejectTransfer(reject.Id));
                break;
            case InputCommand.Transfers:
                node.Commands.Tell(NodeCommands.ListTransfers.Instance);
                break;
            case InputCommand.Join join:
                // Joining a room one is in already is how people go back to it: the UI shows it (the server would
                // only say again what it said).
                if (_model?.IsMember(join.Room) == true) _screen.Show(join.Room);
                else node.Commands.Tell(new NodeCommands.JoinRoom(join.Room));
                break;
            case InputCommand.Leave leave:
                if ((leave.Room ?? _model?.RoomInView) is { } leaving) node.Commands.Tell(new NodeCommands.LeaveRoom(leaving));
                else node.System.EventStream.Publish(new ErrorOccurred("usage: /leave #ROOM"));
                break;
            case InputCommand.Rooms:
                node.Commands.Tell(NodeCommands.ListRooms.Instance);
                break;
            case InputCommand.Members members:
                if ((members.Room ?? _model?.RoomInView) is { } listed) node.Commands.Tell(new NodeCommands.ListMembers(listed));
                else node.System.EventStream.Publish(new ErrorOccurred("usage: /members #ROOM"));
                break;
            case InputCommand.Topic topic:
                if ((topic.Room ?? _model?.RoomInView) is { } topicRoom) node.Commands.Tell(new NodeCommands.SetTopic(topicRoom, topic.Text));
                else node.System.EventStream.Publish(new ErrorOccurred("usage: /topic #ROOM TEXT"));
                break;
            case InputCommand.History history:
                node.Commands.Tell(new NodeCommands.ShowHistory(history.Target ?? _model?.RoomInView, history.Count));
                break;
            case InputCommand.Unregister:
                node.Commands.Tell(NodeCommands.Unregister.Instance);
                break;
            case InputCommand.Get get:
                node.Commands.Tell(new NodeCommands.GetFile(get.FileId));
                break;
            case InputCommand.Free free:
                node.Commands.Tell(new NodeCommands.FreeName(free.Name));
                break;
            case InputCommand.Quit:
                Quit();
                break;
            case InputCommand.Help:
                if (!json) note(InputCommand.Usage);
                break;
            case InputCommand.Invalid invalid:
                node.System.EventStream.Publish(new ErrorOccurred(invalid.Message));
                break;
        }
    }

    private int Fail(int code, string message)
    {
        error.WriteLine($"akka-tcp-transfer: {message}");
        if (json) output.WriteLine(JsonEventFormatter.Error(message));
        return code;
    }
}
