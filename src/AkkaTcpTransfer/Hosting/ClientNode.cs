using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Client;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Hosting;

/// <summary>A running client node: an actor system connected to a server (and reconnecting if it goes away).</summary>
public sealed class ClientNode : NodeHost
{
    private ClientNode(ActorSystem system, IActorRef commands, NodeSettings settings, string name, string serverName)
        : base(system, commands, settings)
    {
        Name = name;
        ServerName = serverName;
    }

    /// <summary>This client's name as the server confirmed it.</summary>
    public string Name { get; }

    /// <summary>The server's name (address it in <see cref="NodeCommands.SayTo"/>).</summary>
    public string ServerName { get; }

    /// <summary>Starts a client from <paramref name="config"/> and returns once the server has welcomed it.
    /// <paramref name="beforeStart"/> runs on the new actor system before the client connects.</summary>
    /// <exception cref="ConfigException">The configuration is invalid.</exception>
    /// <exception cref="NodeStartException">The server cannot be reached, is not trusted (<see cref="StartFailure.NotTrusted"/>:
    /// unknown, or not the key pinned for it), or refused the client.</exception>
    public static async Task<ClientNode> StartAsync(Config config, Action<ActorSystem>? beforeStart = null, CancellationToken ct = default)
    {
        var settings = NodeSettings.Read(config, NodeRole.Client);
        CheckDownloads(settings.Downloads);
        var servers = new List<ClientActor.ServerAddress>();
        foreach (var (host, port) in settings.Client.Servers)
            servers.Add(new ClientActor.ServerAddress(await ResolveAsync(host, port, ct), NodeSecurity.ForClient(settings, host, port)));
        var timeout = (settings.Client.ConnectTimeout + settings.Client.HandshakeTimeout) * servers.Count + TimeSpan.FromSeconds(5);
        var (system, root, ready) = await StartRootAsync(config, settings, "akka-tcp-transfer-client",
            () => ClientActor.Props(settings, servers), "client", beforeStart, timeout, ct);
        return new ClientNode(system, root, settings, ready.Name, ready.Server);
    }
}
