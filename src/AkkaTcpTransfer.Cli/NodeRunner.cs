using System.Runtime.InteropServices;
using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Presentation;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cli;

/// <summary>Runs one server or client node for the command line: config -> node -> stdin commands -> exit code.</summary>
internal sealed class NodeRunner(NodeRole role, bool json, TextReader input, TextWriter output, TextWriter error)
{
    /// <summary>Logging for the program: Akka's log lines go to stderr so that stdout carries events only.</summary>
    private static readonly Config CliLogging = ConfigurationFactory.ParseString("""
        akka.loggers = ["AkkaTcpTransfer.Cli.StderrLogger, akka-tcp-transfer"]
        akka.stdout-loglevel = OFF
        akka.loglevel = WARNING
        """);

    private readonly TaskCompletionSource<int> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IActorRef? _console;

    public async Task<int> RunAsync(IReadOnlyList<string> configFiles, IReadOnlyList<(string, string)> overrides)
    {
        Config config;
        NodeHost node;
        StderrLogger.Hold();
        try
        {
            config = NodeConfig.Build(role, configFiles, overrides).WithFallback(CliLogging);
            node = role == NodeRole.Server
                ? await ServerNode.StartAsync(config, BeforeStart)
                : await StartClientAsync(config);
        }
        catch (ConfigException e)
        {
            StderrLogger.Release(write: false);
            return Fail(ExitCodes.BadArguments, e.Message);
        }
        catch (NodeStartException e)
        {
            StderrLogger.Release(write: false);
            return Fail(ExitCodes.CannotStart, e.Message);
        }
        StderrLogger.Release(write: true);

        CoordinatedShutdown.Get(node.System).AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "flush-console", async () =>
        {
            // Every event published before the node stopped is written out before the process exits.
            try
            {
                await _console!.Ask<ConsoleActor.Flushed>(ConsoleActor.Flush.Instance, TimeSpan.FromSeconds(3));
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                // best effort: the process is stopping anyway
            }
            return Akka.Done.Instance;
        });

        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var refused = node.System.Subscribe<ConnectionRefused>(_ => _exit.TrySetResult(ExitCodes.CannotStart));
        using var lost = node.System.Subscribe<Disconnected>(d =>
        {
            if (!d.WillReconnect) _exit.TrySetResult(ExitCodes.CannotStart);
        });
        _ = node.Terminated.ContinueWith(_ => _exit.TrySetResult(ExitCodes.Failure), TaskScheduler.Default);

        var reader = new Thread(() => ReadInput(node)) { IsBackground = true, Name = "stdin" };
        reader.Start();

        var code = await _exit.Task;
        await node.StopAsync();
        return code;
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

    private void BeforeStart(ActorSystem system) =>
        _console = ConsoleOutput.Start(system, output, json, live: !json && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected);

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // we stop cleanly ourselves
        _exit.TrySetResult(ExitCodes.Ok);
    }

    private void ReadInput(NodeHost node)
    {
        try
        {
            while (input.ReadLine() is { } line)
            {
                if (_exit.Task.IsCompleted) return;
                Handle(node, line);
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
        // No timeout of our own: every transfer ends by itself (delivered, failed, or stalled past transfer.stall-timeout).
        node.OutgoingDoneAsync().ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) _exit.TrySetResult(t.Result.Failed > 0 ? ExitCodes.TransferFailed : ExitCodes.Ok);
            else _exit.TrySetResult(ExitCodes.Failure);
        }, TaskScheduler.Default);
    }

    private void Handle(NodeHost node, string line)
    {
        switch (InputCommand.Parse(line))
        {
            case null:
                break;
            case InputCommand.Say s:
                node.Commands.Tell(new NodeCommands.Say(s.Text));
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
            case InputCommand.Quit:
                _exit.TrySetResult(ExitCodes.Ok);
                break;
            case InputCommand.Help:
                if (!json) output.WriteLine(InputCommand.Usage);
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
