using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Settings;
using Akka;

namespace AkkaTcpTransfer.Hosting;

/// <summary>Outgoing files offered since the node started, and how many of them were not delivered.</summary>
public sealed record OutgoingSummary(int Sent, int Failed);

/// <summary>What a running node (server or client) has in common: its actor system, the actor that takes
/// <see cref="NodeCommands"/>, and a clean, idempotent stop through CoordinatedShutdown.</summary>
public abstract class NodeHost : IAsyncDisposable
{
    private protected NodeHost(ActorSystem system, IActorRef commands, NodeSettings settings)
    {
        System = system;
        Commands = commands;
        Settings = settings;
    }

    /// <summary>The node's actor system: subscribe to <c>System.EventStream</c> for <see cref="Events.NodeEvent"/>s.</summary>
    public ActorSystem System { get; }

    /// <summary>Send <see cref="NodeCommands"/> here.</summary>
    public IActorRef Commands { get; }

    public NodeSettings Settings { get; }

    /// <summary>Completes when the node's actor system has terminated, whoever stopped it, with why: asked to stop
    /// (<see cref="NodeExit.Failed"/> false), or a part the node cannot work without failed (a client refused by its
    /// server, a server whose session registry died...), named in <see cref="NodeExit.Reason"/>.</summary>
    public Task<NodeExit> Terminated => WhenEnded();

    private async Task<NodeExit> WhenEnded()
    {
        await System.WhenTerminated;
        return NodeEnding.Get(System).Exit ?? new NodeExit(false, "stopped");
    }

    /// <summary>Completes once no outgoing transfer is queued or running (each ends by itself: delivered, failed, or
    /// stalled past transfer.stall-timeout), with how many were offered since the start and how many failed.</summary>
    public async Task<OutgoingSummary> OutgoingDoneAsync(CancellationToken ct = default)
    {
        var drained = await Commands.Ask<NodeLifecycle.OutgoingDrained>(NodeLifecycle.DrainOutgoing.Instance, Timeout.InfiniteTimeSpan, ct);
        return new OutgoingSummary(drained.Sent, drained.Failed);
    }

    /// <summary>The outgoing transfers not over yet, by file: those being scanned, queued, offered, waiting for the
    /// receiver's decision or moving. Every transfer event published before the call is reflected in the answer.</summary>
    public async Task<IReadOnlyList<string>> UnfinishedOutgoingAsync(TimeSpan timeout)
    {
        var open = await Commands.Ask<NodeLifecycle.OutgoingOpen>(NodeLifecycle.ListOutgoing.Instance, timeout);
        return open.Files;
    }

    /// <summary>Completes once every chat line this node was asked to send has been answered by the server: confirmed
    /// (<see cref="Events.ChatSent"/>) or not sent (<see cref="Events.ChatNotSent"/>). Lines queued for the server's
    /// pace leave at that pace, so this may take a while after a long paste.</summary>
    public async Task ChatDoneAsync(CancellationToken ct = default) =>
        await Commands.Ask<NodeLifecycle.ChatDrained>(NodeLifecycle.DrainChat.Instance, Timeout.InfiniteTimeSpan, ct);

    /// <summary>How many chat lines of this node the server has not yet answered (queued for its pace, or sent and not
    /// yet confirmed).</summary>
    public async Task<int> UnsentChatAsync(TimeSpan timeout) =>
        (await Commands.Ask<NodeLifecycle.ChatOpen>(NodeLifecycle.ListChat.Instance, timeout)).Lines;

    /// <summary>Says goodbye to peers, closes connections and terminates the actor system.</summary>
    public async Task StopAsync()
    {
        NodeEnding.Get(System).Record(new NodeExit(false, "stopped"));
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        await System.WhenTerminated;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>A downloads folder that cannot be made or written is reported at start, not at the first file.</summary>
    /// <exception cref="ConfigException">The folder cannot be created or written.</exception>
    private protected static void CheckDownloads(string folder)
    {
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".akka-tcp-transfer-write-check-{Environment.ProcessId}");
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"the downloads folder {folder} cannot be written ({e.Message}); choose another with --downloads", e);
        }
    }

    private protected static async Task<IPEndPoint> ResolveAsync(string host, int port, CancellationToken ct)
    {
        if (IPAddress.TryParse(host, out var ip)) return new IPEndPoint(ip, port);
        IPAddress[] addresses;
        try
        {
            addresses = await Dns.GetHostAddressesAsync(host, ct);
        }
        catch (SocketException e)
        {
            throw new ConfigException($"cannot resolve host '{host}': {e.Message}", e);
        }
        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new ConfigException($"host '{host}' has no address");
        return new IPEndPoint(chosen, port);
    }

    /// <summary>Creates the actor system, lets the caller subscribe before anything happens, starts the node's root
    /// actor and waits for it to be ready. On failure the system is shut down and a
    /// <see cref="NodeStartException"/> thrown.</summary>
    /// <param name="setups">What the actor system is made with besides its configuration (a server's database, a
    /// cluster's TLS).</param>
    private protected static async Task<(ActorSystem System, IActorRef Root, NodeLifecycle.Ready Ready)> StartRootAsync(
        Config config, NodeSettings settings, string systemName, Func<Props> rootProps, string rootName,
        Action<ActorSystem>? beforeStart, TimeSpan readyTimeout, CancellationToken ct, params Akka.Actor.Setup.Setup[] setups)
    {
        var bootstrap = Akka.Actor.Setup.ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(config));
        foreach (var setup in setups) bootstrap = bootstrap.And(setup);
        var system = ActorSystem.Create(systemName, bootstrap);
        try
        {
            beforeStart?.Invoke(system);
            var root = system.ActorOf(rootProps(), rootName);
            // Whenever the root stops, the whole node goes (NodeEnding says why): never a system left serving nobody.
            system.ActorOf(RootWatcherActor.Props(root, settings.Role == NodeRole.Server ? "server" : "client"), $"{rootName}-watch");
            var result = await root.Ask<object>(NodeLifecycle.AwaitReady.Instance, readyTimeout, ct);
            switch (result)
            {
                case NodeLifecycle.Ready ready:
                    var shutdown = CoordinatedShutdown.Get(system);
                    shutdown.AddTask(CoordinatedShutdown.PhaseServiceUnbind, "akka-tcp-transfer-goodbye", async () =>
                    {
                        // A root that stopped has said what goodbyes it could: nobody is left to ask.
                        if (NodeEnding.Get(system).RootStopped) return Done.Instance;
                        try
                        {
                            await root.Ask<NodeLifecycle.Stopped>(new NodeLifecycle.Stop(
                                settings.Role == NodeRole.Server ? "server shutting down" : "client quit"),
                                settings.Connection.CloseTimeout + TimeSpan.FromSeconds(1));
                        }
                        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
                        {
                            // The node did not finish its goodbyes in time: shutdown goes on and closes sockets hard.
                        }
                        return Done.Instance;
                    });
                    return (system, root, ready);
                case NodeLifecycle.StartFailed failed:
                    throw new NodeStartException(failed.Kind, failed.Reason, failed.Trust, failed.Fingerprint);
                default:
                    throw new InvalidOperationException($"unexpected start reply {result}");
            }
        }
        catch
        {
            await system.Terminate();
            throw;
        }
    }
}
