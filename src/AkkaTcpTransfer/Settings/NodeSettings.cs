using Akka.Configuration;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Settings;

/// <summary>Everything a node reads from configuration, validated once at start. Sections mirror reference.conf.</summary>
public sealed record NodeSettings(
    NodeRole Role,
    string Name,
    string Host,
    int Port,
    string Token,
    string Downloads,
    int MaxFrameSize,
    ConnectionSettings Connection,
    ServerSettings Server,
    ClientSettings Client,
    ChatSettings Chat,
    TransferSettings Transfer,
    LimitSettings Limits,
    string StateDir,
    TlsSettings Tls,
    ClusterSettings Cluster,
    StoreSettings Store,
    RoomSettings Rooms,
    HistorySettings History,
    NameSettings Names,
    SpoolSettings Spool,
    WebSettings Web)
{
    private const string S = NodeConfig.Section;

    /// <summary>Reads and validates; throws <see cref="ConfigException"/> with a one-line reason.</summary>
    public static NodeSettings Read(Config config, NodeRole role)
    {
        ArgumentNullException.ThrowIfNull(config);
        NodeConfig.CheckKnownKeys(config);
        var r = new ConfigReader(config);

        var name = r.String($"{S}.name").Trim();
        if (role == NodeRole.Client && name.Length == 0)
            throw new ConfigException("a client needs a name: pass --name NAME (or set akka-tcp-transfer.name)");
        if (PeerNames.Validate(name) is { } nameProblem)
            throw new ConfigException($"{S}.name: {nameProblem}");
        var host = r.String($"{S}.host").Trim();
        if (host.Length == 0) throw new ConfigException($"{S}.host must not be empty");
        var port = r.Int($"{S}.port", role == NodeRole.Server ? 0 : 1, 65535);
        var downloads = r.String($"{S}.downloads");
        if (downloads.Trim().Length == 0) throw new ConfigException($"{S}.downloads must not be empty");

        var maxFrame = (int)r.Bytes($"{S}.protocol.max-frame-size", 1024, ProtocolLimits.AbsoluteMaxFrameLength);

        var connection = new ConnectionSettings(
            MaxSendQueue: r.Bytes($"{S}.connection.max-send-queue", 64 * 1024, 1L << 34),
            WritesInFlight: r.Int($"{S}.connection.writes-in-flight", 1, 64),
            UnsentLowWatermark: (int)r.Bytes($"{S}.connection.unsent-lowat", 0, 1L << 30),
            ReadAhead: r.Int($"{S}.connection.read-ahead", 1, 64),
            MaxFramesPerSecond: r.Int($"{S}.connection.max-frames-per-second", 10, 10_000_000),
            WriteTimeout: r.Duration($"{S}.connection.write-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
            NodeSendBudget: r.Bytes($"{S}.connection.node-send-budget", 64 * 1024, 1L << 40),
            KeepaliveInterval: r.Duration($"{S}.connection.keepalive-interval", TimeSpan.FromMilliseconds(50), TimeSpan.FromHours(1)),
            IdleTimeout: r.Duration($"{S}.connection.idle-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(24)),
            CloseTimeout: r.Duration($"{S}.connection.close-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10)));
        if (connection.IdleTimeout <= connection.KeepaliveInterval)
            throw new ConfigException($"{S}.connection.idle-timeout ({connection.IdleTimeout}) must be longer than keepalive-interval ({connection.KeepaliveInterval})");

        var server = new ServerSettings(
            HandshakeTimeout: r.Duration($"{S}.server.handshake-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1)),
            MaxClients: r.IntOrAuto($"{S}.server.max-clients", 1, 1_000_000),
            Backlog: r.Int($"{S}.server.backlog", 1, 65535),
            MaxConnectionsPerAddress: r.Int($"{S}.server.max-connections-per-address", 1, 1_000_000),
            MaxHandshakesPerAddress: r.Int($"{S}.server.max-handshakes-per-address", 1, 1_000_000),
            PenaltyMin: r.Duration($"{S}.server.penalty-min", TimeSpan.Zero, TimeSpan.FromHours(1)),
            PenaltyMax: r.Duration($"{S}.server.penalty-max", TimeSpan.Zero, TimeSpan.FromDays(1)),
            DescriptorReserve: r.Int($"{S}.server.descriptor-reserve", 16, 1_000_000));
        if (server.PenaltyMax < server.PenaltyMin)
            throw new ConfigException($"{S}.server.penalty-max ({server.PenaltyMax}) must not be below penalty-min ({server.PenaltyMin})");

        var minBackoff = r.Duration($"{S}.client.reconnect.min-backoff", TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        var maxBackoff = r.Duration($"{S}.client.reconnect.max-backoff", TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        if (maxBackoff < minBackoff)
            throw new ConfigException($"{S}.client.reconnect.max-backoff ({maxBackoff}) must not be below min-backoff ({minBackoff})");
        var servers = new List<(string Host, int Port)> { (host, port) };
        foreach (var part in r.String($"{S}.client.servers").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            servers.Add(ParseHostPort(part, port, $"{S}.client.servers"));
        var client = new ClientSettings(
            Servers: servers,
            ConnectTimeout: r.Duration($"{S}.client.connect-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1)),
            HandshakeTimeout: r.Duration($"{S}.client.handshake-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1)),
            Reconnect: r.Bool($"{S}.client.reconnect.enabled"),
            MinBackoff: minBackoff,
            MaxBackoff: maxBackoff);

        var chat = new ChatSettings(
            MaxMessageBytes: (int)r.Bytes($"{S}.chat.max-message-bytes", 1, ProtocolLimits.MaxStringBytes),
            PresenceLimit: r.Int($"{S}.chat.presence-limit", 0, 10_000_000),
            SendQueue: r.Int($"{S}.chat.send-queue", 1, 1_000_000),
            ConfirmTimeout: r.Duration($"{S}.chat.confirm-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1)));
        // A chat frame carries the text plus two names and a time stamp: it must fit the peer's frame limit.
        if (chat.MaxMessageBytes + 1024 > maxFrame)
            throw new ConfigException($"{S}.chat.max-message-bytes ({chat.MaxMessageBytes}) must be at least 1 KiB below protocol.max-frame-size ({maxFrame})");

        var transfer = new TransferSettings(
            ChunkSize: (int)r.Bytes($"{S}.transfer.chunk-size", 1024, ProtocolLimits.AbsoluteMaxFrameLength),
            Window: (int)r.Bytes($"{S}.transfer.window", 1024, 1 << 30),
            MaxWindow: (int)r.Bytes($"{S}.transfer.max-window", 1024, 1 << 30),
            NodeWindowBudget: r.Bytes($"{S}.transfer.node-window-budget", 0, long.MaxValue),
            ProgressInterval: r.Duration($"{S}.transfer.progress-interval", TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1)),
            MaxConcurrentSends: r.Int($"{S}.transfer.max-concurrent-sends", 1, 1024),
            OfferSlotGrace: r.Duration($"{S}.transfer.offer-slot-grace", TimeSpan.Zero, TimeSpan.FromHours(1)),
            MaxWaitingOffers: r.Int($"{S}.transfer.max-waiting-offers", 1, 100_000),
            MaxConcurrentReceives: r.Int($"{S}.transfer.max-concurrent-receives", 1, 1024),
            OffersPerSecond: r.Int($"{S}.transfer.offers-per-second", 1, 1_000_000),
            AutoAccept: r.Bool($"{S}.transfer.auto-accept"),
            OfferTimeout: r.Duration($"{S}.transfer.offer-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1)),
            AnswerTimeout: r.Duration($"{S}.transfer.answer-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1)),
            StartTimeout: r.Duration($"{S}.transfer.start-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromDays(1)),
            PartialMaxAge: r.Duration($"{S}.transfer.partial-max-age", TimeSpan.FromSeconds(1), TimeSpan.FromDays(3650)),
            ResumeMinSize: r.Bytes($"{S}.transfer.resume-min-size", 0, long.MaxValue),
            MaxFileSize: r.Bytes($"{S}.transfer.max-file-size", 0, long.MaxValue),
            CheckFreeSpace: r.Bool($"{S}.transfer.check-free-space"),
            MinFreeSpace: r.Bytes($"{S}.transfer.min-free-space", 0, long.MaxValue),
            StallTimeout: r.Duration($"{S}.transfer.stall-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1)),
            SyncOnComplete: r.Bool($"{S}.transfer.sync-on-complete"),
            FolderMaxFiles: r.Int($"{S}.transfer.folder-max-files", 1, 10_000_000),
            FolderFileMaxSize: r.Bytes($"{S}.transfer.folder-file-max-size", 0, long.MaxValue),
            FileIoDispatcher: $"{S}.transfer.file-io-dispatcher",
            SendDispatcher: $"{S}.transfer.send-dispatcher");
        if (transfer.ChunkSize + ProtocolLimits.ChunkOverhead > maxFrame)
            throw new ConfigException($"{S}.transfer.chunk-size ({transfer.ChunkSize}) plus {ProtocolLimits.ChunkOverhead} bytes of header must fit protocol.max-frame-size ({maxFrame})");
        if (transfer.Window < transfer.ChunkSize)
            throw new ConfigException($"{S}.transfer.window ({transfer.Window}) must hold at least one chunk ({transfer.ChunkSize})");
        // Relayed and received chunks wait in a connection's bounded send queue: the windows of every transfer a
        // connection may carry at once must fit in it with room to spare, or a busy peer would look slow.
        if ((long)transfer.Window * transfer.MaxConcurrentReceives > connection.MaxSendQueue / 2)
            throw new ConfigException($"{S}.transfer.window x max-concurrent-receives ({(long)transfer.Window * transfer.MaxConcurrentReceives}) must be at most half of connection.max-send-queue ({connection.MaxSendQueue})");
        // A window that grew waits in the same queue: the most one connection's sends may grow to fits the other half.
        // Lowered (or raised to transfer.window) rather than refused, so that a smaller queue or a larger window set
        // alone keeps working as it did before max-window existed.
        transfer = transfer with
        {
            MaxWindow = (int)Math.Clamp(transfer.MaxWindow, transfer.Window, Math.Max(transfer.Window, connection.MaxSendQueue / 2)),
        };

        var limits = new LimitSettings(
            ChatPerSecond: r.Int($"{S}.limits.chat-per-second", 1, 1_000_000),
            ChatBurst: r.Int($"{S}.limits.chat-burst", 1, 1_000_000),
            WhoPerSecond: r.Int($"{S}.limits.who-per-second", 1, 1_000_000),
            WhoBurst: r.Int($"{S}.limits.who-burst", 1, 1_000_000),
            OffersPerSecond: r.Int($"{S}.limits.offers-per-second", 1, 1_000_000),
            OffersBurst: r.Int($"{S}.limits.offers-burst", 1, 1_000_000),
            FanoutPerSecond: r.Int($"{S}.limits.fanout-per-second", 1, 100_000_000),
            FanoutBurst: r.Int($"{S}.limits.fanout-burst", 1, 100_000_000),
            ExcessTolerance: r.Int($"{S}.limits.excess-tolerance", 1, 1_000_000),
            RelaysPerClient: r.Int($"{S}.limits.relays-per-client", 1, 100_000),
            Backlog: r.Int($"{S}.limits.backlog", 1, 1_000_000),
            RoomsPerSecond: r.Int($"{S}.limits.rooms-per-second", 1, 1_000_000),
            RoomsBurst: r.Int($"{S}.limits.rooms-burst", 1, 1_000_000),
            HistoryPerSecond: r.Int($"{S}.limits.history-per-second", 1, 1_000_000),
            HistoryBurst: r.Int($"{S}.limits.history-burst", 1, 1_000_000));

        string downloadsPath;
        try
        {
            downloadsPath = Path.GetFullPath(downloads);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ConfigException($"{S}.downloads: '{downloads}' is not a usable path ({e.Message})", e);
        }

        var stateDir = r.String($"{S}.state-dir").Trim();
        try
        {
            stateDir = Path.GetFullPath(stateDir.Length > 0 ? stateDir : DefaultStateDir());
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ConfigException($"{S}.state-dir: '{stateDir}' is not a usable path ({e.Message})", e);
        }

        var tls = ReadTls(r, role);
        var cluster = ReadCluster(r, host);
        // The cluster speaks TLS unless everything is in the clear (--insecure) or the operator said so for the cluster alone.
        if (cluster.Enabled && tls.Enabled && r.Bool($"{S}.cluster.tls")) cluster = WithClusterKey(r, cluster, stateDir);
        if (cluster.Enabled && cluster.ClaimTimeout >= server.HandshakeTimeout)
            throw new ConfigException($"{S}.cluster.claim-timeout ({cluster.ClaimTimeout}) must be below server.handshake-timeout ({server.HandshakeTimeout})");

        var store = ReadStore(r, stateDir);
        var rooms = new RoomSettings(
            PerClient: r.Int($"{S}.rooms.per-client", 1, 100_000),
            PerServer: r.Int($"{S}.rooms.per-server", 1, 10_000_000),
            MembersPerRoom: r.Int($"{S}.rooms.members-per-room", 1, 10_000_000),
            TopicMaxBytes: (int)r.Bytes($"{S}.rooms.topic-max-bytes", 1, 4096),
            IdleUnload: r.Duration($"{S}.rooms.idle-unload", TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1)));
        var history = new HistorySettings(
            Scrollback: r.Int($"{S}.history.scrollback", 0, 10_000),
            MaxPage: r.Int($"{S}.history.max-page", 1, 10_000),
            RoomMaxLines: r.Int($"{S}.history.room-max-lines", 1, int.MaxValue),
            RoomMaxAge: r.Duration($"{S}.history.room-max-age", TimeSpan.FromSeconds(1), TimeSpan.FromDays(36500)),
            SnapshotEvery: r.Int($"{S}.history.snapshot-every", 10, 1_000_000),
            OfflineMaxMessages: r.Int($"{S}.history.offline-max-messages", 1, 1_000_000),
            OfflineMaxBytes: r.Bytes($"{S}.history.offline-max-bytes", 1024, 1L << 34),
            DirectMaxAge: r.Duration($"{S}.history.direct-max-age", TimeSpan.FromSeconds(1), TimeSpan.FromDays(36500)),
            RetentionInterval: r.Duration($"{S}.history.retention-interval", TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(30)));
        if (history.Scrollback > history.RoomMaxLines)
            throw new ConfigException($"{S}.history.scrollback ({history.Scrollback}) must not exceed history.room-max-lines ({history.RoomMaxLines})");
        var names = new NameSettings(
            ExpireAfter: r.Duration($"{S}.names.expire-after", TimeSpan.FromSeconds(1), TimeSpan.FromDays(36500)),
            MaxRegistered: r.Int($"{S}.names.max-registered", 0, 100_000_000));

        var spool = new SpoolSettings(
            Enabled: r.Bool($"{S}.spool.enabled"),
            Folder: Path.Combine(stateDir, "spool"),
            MaxBytes: r.Bytes($"{S}.spool.max-bytes", 0, 1L << 50),
            MaxBytesPerSender: r.Bytes($"{S}.spool.max-bytes-per-sender", 0, 1L << 50),
            MaxBytesPerRecipient: r.Bytes($"{S}.spool.max-bytes-per-recipient", 0, 1L << 50),
            MaxRecipients: r.Int($"{S}.spool.max-recipients", 1, 10_000),
            MaxFiles: r.Int($"{S}.spool.max-files", 1, 10_000_000),
            ExpireAfter: r.Duration($"{S}.spool.expire-after", TimeSpan.FromSeconds(1), TimeSpan.FromDays(36500)),
            SweepInterval: r.Duration($"{S}.spool.sweep-interval", TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1)),
            DeliveriesPerRecipient: r.Int($"{S}.spool.deliveries-per-recipient", 1, 64),
            MaxRoomMembers: r.Int($"{S}.spool.max-room-members", 1, 1_000_000),
            ClaimsPerConnection: r.Int($"{S}.spool.claims-per-connection", 1, 10_000),
            ProofTimeout: r.Duration($"{S}.spool.proof-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
            ClaimsRefusedFor: r.Duration($"{S}.spool.claims-refused-for", TimeSpan.Zero, TimeSpan.FromDays(1)));

        var web = new WebSettings(
            Enabled: r.Bool($"{S}.web.enabled"),
            Host: r.String($"{S}.web.host").Trim() is { Length: > 0 } webHost ? webHost : host,
            Port: r.Int($"{S}.web.port", 0, 65535),
            AssetsDir: r.String($"{S}.web.assets-dir").Trim());

        return new NodeSettings(role, name, host, port, r.String($"{S}.token"), downloadsPath, maxFrame, connection, server, client, chat, transfer,
            limits, stateDir, tls, cluster, store, rooms, history, names, spool, web);
    }

    private static StoreSettings ReadStore(ConfigReader r, string stateDir)
    {
        var kind = r.String($"{S}.store.kind").Trim().ToLowerInvariant() switch
        {
            "sqlite" => StoreKind.Sqlite,
            "postgres" or "postgresql" => StoreKind.Postgres,
            var other => throw new ConfigException($"{S}.store.kind must be sqlite or postgres, got '{other}'"),
        };
        var file = r.String($"{S}.store.sqlite-file").Trim();
        try
        {
            file = Path.GetFullPath(file.Length > 0 ? file : Path.Combine(stateDir, "chat.db"));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ConfigException($"{S}.store.sqlite-file: '{file}' is not a usable path ({e.Message})", e);
        }
        var postgres = r.String($"{S}.store.postgres").Trim();
        if (kind == StoreKind.Postgres && postgres.Length == 0)
            throw new ConfigException($"{S}.store.kind = postgres needs {S}.store.postgres, a connection string (CLI: --postgres CONNECTION)");
        var sync = r.String($"{S}.store.sqlite-synchronous").Trim().ToLowerInvariant() switch
        {
            "normal" => false,
            "full" => true,
            var other => throw new ConfigException($"{S}.store.sqlite-synchronous must be normal or full, got '{other}'"),
        };
        return new StoreSettings(kind, file, postgres, r.Int($"{S}.store.max-batch", 1, 100_000), r.Bytes($"{S}.store.max-size", 0, long.MaxValue), sync);
    }

    /// <summary>"host", "host:port", "[v6]:port" or a bare IPv6 address; <paramref name="defaultPort"/> when none is given.</summary>
    public static (string Host, int Port) ParseHostPort(string text, int defaultPort, string setting)
    {
        text = text.Trim();
        var colon = text.LastIndexOf(':');
        var bracketed = text.StartsWith('[');
        if (colon < 0 || (!bracketed && text.IndexOf(':') != colon)) return (text, defaultPort);
        if (bracketed && text.IndexOf(']') > colon) return (text.Trim('[', ']'), defaultPort);
        if (!int.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535 || colon == 0)
            throw new ConfigException($"{setting}: '{text}' is not host or host:port");
        return (text[..colon].Trim('[', ']'), port);
    }

    /// <summary>A cluster with TLS needs the cluster's key: named by cluster.certificate and cluster.key, or in
    /// state-dir. Without it the node does not start (only --insecure runs a cluster in the clear).</summary>
    private static ClusterSettings WithClusterKey(ConfigReader r, ClusterSettings cluster, string stateDir)
    {
        var certificate = r.String($"{S}.cluster.certificate").Trim();
        var key = r.String($"{S}.cluster.key").Trim();
        if (certificate.Length == 0 != (key.Length == 0))
            throw new ConfigException($"{S}.cluster.certificate and {S}.cluster.key go together (CLI: --cluster-cert and --cluster-key)");
        if (certificate.Length == 0)
        {
            certificate = Path.Combine(stateDir, "cluster-certificate.pem");
            key = Path.Combine(stateDir, "cluster-key.pem");
            if (!File.Exists(certificate) || !File.Exists(key))
                throw new ConfigException("a cluster needs the cluster's key, the same on every node: make one with " +
                    "'akka-tcp-transfer cluster-key --out DIR', copy DIR to every node, and give each --cluster-cert " +
                    "DIR/cluster-certificate.pem --cluster-key DIR/cluster-key.pem (or put both files in its state folder); " +
                    "--insecure runs the cluster without TLS, for a network you trust");
        }
        var authority = r.String($"{S}.cluster.ca").Trim();
        return cluster with
        {
            CertificateFile = Path.GetFullPath(certificate),
            KeyFile = Path.GetFullPath(key),
            CaFile = authority.Length == 0 ? null : Path.GetFullPath(authority),
        };
    }

    private static ClusterSettings ReadCluster(ConfigReader r, string host)
    {
        var enabled = r.Bool($"{S}.cluster.enabled");
        var clusterHost = r.String($"{S}.cluster.host").Trim();
        if (clusterHost.Length == 0) clusterHost = host;
        if (enabled && clusterHost is "0.0.0.0" or "::")
            throw new ConfigException($"{S}.cluster.host: other nodes must reach this node at a real address, not {clusterHost}; set cluster.host (CLI: --cluster-host)");
        var port = r.Int($"{S}.cluster.port", 0, 65535);
        var seeds = new List<(string Host, int Port)>();
        foreach (var part in r.String($"{S}.cluster.seeds").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var seed = ParseHostPort(part, 0, $"{S}.cluster.seeds");
            if (seed.Port == 0) throw new ConfigException($"{S}.cluster.seeds: '{part}' is not host:port (the cluster port of a node to join)");
            seeds.Add(seed);
        }
        return new ClusterSettings(enabled, clusterHost, port, seeds,
            r.Int($"{S}.cluster.link-port", 0, 65535),
            r.Bytes($"{S}.cluster.link-max-queue", 1024 * 1024, 1L << 40),
            r.Int($"{S}.cluster.link-max-inbound", 1, 100_000),
            r.Duration($"{S}.cluster.join-timeout", TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1)),
            r.Duration($"{S}.cluster.claim-timeout", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10)),
            r.Duration($"{S}.cluster.heartbeat-interval", TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1)),
            r.Duration($"{S}.cluster.acceptable-heartbeat-pause", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)),
            r.Duration($"{S}.cluster.stable-after", TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)))
        {
            PublicHost = PublicHost(r),
        };
    }

    private static string PublicHost(ConfigReader r)
    {
        var host = r.String($"{S}.cluster.public-host").Trim();
        if (host is "0.0.0.0" or "::")
            throw new ConfigException($"{S}.cluster.public-host: other nodes must reach this node at a real address, not {host}");
        return host;
    }

    private static TlsSettings ReadTls(ConfigReader r, NodeRole role)
    {
        string? File(string key)
        {
            var value = r.String($"{S}.tls.{key}").Trim();
            if (value.Length == 0) return null;
            try
            {
                return Path.GetFullPath(value);
            }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
            {
                throw new ConfigException($"{S}.tls.{key}: '{value}' is not a usable path ({e.Message})", e);
            }
        }
        var certificate = File("certificate");
        var key = File("key");
        if (role == NodeRole.Server && (certificate is null) != (key is null))
            throw new ConfigException($"{S}.tls.certificate and {S}.tls.key go together: give both (a CA-issued certificate) or neither (the server's own identity)");
        var fingerprintText = r.String($"{S}.tls.fingerprint");
        string? fingerprint = null;
        if (fingerprintText.Trim().Length > 0)
        {
            fingerprint = Security.Fingerprint.Parse(fingerprintText)
                ?? throw new ConfigException($"{S}.tls.fingerprint: '{fingerprintText.Trim()}' is not a SHA-256 fingerprint (64 hex digits, as the server prints it)");
        }
        return new TlsSettings(r.Bool($"{S}.tls.enabled"), certificate, key, fingerprint, r.Bool($"{S}.tls.trust-on-first-use"), File("ca-certificates"));
    }

    /// <summary>The per-user data folder of the platform: $XDG_DATA_HOME or ~/.local/share on Linux, Application
    /// Support on macOS, %LOCALAPPDATA% on Windows; then akka-tcp-transfer.</summary>
    public static string DefaultStateDir()
    {
        var root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        if (root.Length == 0) root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share");
        return Path.Combine(root, "akka-tcp-transfer");
    }
}

/// <param name="Enabled">On: this server is a node of an Akka.Cluster of servers (server only).</param>
/// <param name="Host">The address other nodes reach this node's cluster port at.</param>
/// <param name="Seeds">Nodes to join; empty: found a new cluster.</param>
/// <param name="CertificateFile">The cluster key's certificate (PEM), with <paramref name="KeyFile"/>; null when the
/// cluster runs without TLS (tls.enabled off) or is not enabled.</param>
public sealed record ClusterSettings(bool Enabled, string Host, int Port, IReadOnlyList<(string Host, int Port)> Seeds, int LinkPort, long LinkMaxQueue,
    int LinkMaxInbound,
    TimeSpan JoinTimeout,
    TimeSpan ClaimTimeout, TimeSpan HeartbeatInterval, TimeSpan AcceptableHeartbeatPause, TimeSpan StableAfter,
    string? CertificateFile = null, string? KeyFile = null)
{
    /// <summary>The IP address node links bind to and are reached at: <see cref="Host"/>, resolved at start when it is
    /// a name (Akka.Remote keeps the name as given).</summary>
    public string LinkHost { get; init; } = Host;

    /// <summary>The operator's CA certificates (PEM) that issue the nodes' certificates (cluster.ca): a peer is accepted
    /// when its certificate chains to one of them, instead of when it holds the same key. Null: one pinned key.</summary>
    public string? CaFile { get; init; }

    /// <summary>Where the other nodes reach this one when it is not where it listens (a NAT, a container's port
    /// mapping, a proxy): told to them for both the cluster port and the link port; empty: <see cref="Host"/>.</summary>
    public string PublicHost { get; init; } = "";

    /// <summary>The IP address the other nodes are told to open links to: <see cref="PublicHost"/>, or else
    /// <see cref="LinkHost"/>, resolved at start.</summary>
    internal string LinkPublicHost { get; init; } = Host;
}

/// <param name="Enabled">Off only on purpose (--insecure): then everything below is unused.</param>
/// <param name="CertificateFile">Server: a CA-issued certificate (PEM), with <paramref name="KeyFile"/>; null: its own identity in state-dir.</param>
/// <param name="Fingerprint">Client: the server key's fingerprint, canonical (lowercase hex), or null.</param>
/// <param name="CaFile">Client: CA certificates to trust instead of the system's, or null.</param>
public sealed record TlsSettings(bool Enabled, string? CertificateFile, string? KeyFile, string? Fingerprint, bool TrustOnFirstUse, string? CaFile);

public sealed record ConnectionSettings(long MaxSendQueue, int WritesInFlight, int UnsentLowWatermark, int ReadAhead, int MaxFramesPerSecond,
    TimeSpan WriteTimeout, long NodeSendBudget, TimeSpan KeepaliveInterval, TimeSpan IdleTimeout, TimeSpan CloseTimeout);

/// <param name="MaxClients">Null for "auto": worked out from the process's descriptor limit at start.</param>
public sealed record ServerSettings(TimeSpan HandshakeTimeout, int? MaxClients, int Backlog, int MaxConnectionsPerAddress, int MaxHandshakesPerAddress,
    TimeSpan PenaltyMin, TimeSpan PenaltyMax, int DescriptorReserve);

/// <param name="Backlog">Requests over their rate that may wait (slowing the client) before one is refused.</param>
public sealed record LimitSettings(int ChatPerSecond, int ChatBurst, int WhoPerSecond, int WhoBurst, int OffersPerSecond, int OffersBurst,
    int FanoutPerSecond, int FanoutBurst, int ExcessTolerance, int RelaysPerClient, int Backlog,
    int RoomsPerSecond, int RoomsBurst, int HistoryPerSecond, int HistoryBurst);

/// <summary>Where a server keeps rooms, history and registered names.</summary>
public enum StoreKind
{
    /// <summary>One SQLite file (<see cref="StoreSettings.SqliteFile"/>): nothing to set up.</summary>
    Sqlite,
    /// <summary>A PostgreSQL database (<see cref="StoreSettings.Postgres"/>), which several server nodes share.</summary>
    Postgres,
}

/// <param name="SqliteFile">The SQLite database file (absolute).</param>
/// <param name="Postgres">An Npgsql connection string; empty unless <paramref name="Kind"/> is Postgres.</param>
/// <param name="MaxBatch">Rows committed in one transaction at most.</param>
/// <param name="MaxSize">SQLite: the most the file may grow to, 0 for no limit but the disk's.</param>
/// <param name="SqliteSyncFull">SQLite: every commit waits for the disk (synchronous=FULL), so that a crash of the
/// machine loses nothing acknowledged either; by default only a crash of the process loses nothing.</param>
public sealed record StoreSettings(StoreKind Kind, string SqliteFile, string Postgres, int MaxBatch, long MaxSize, bool SqliteSyncFull = false);

/// <param name="PerClient">Rooms one client may be a member of.</param>
/// <param name="PerServer">Rooms the server holds at most.</param>
/// <param name="IdleUnload">A room unused this long leaves memory (it recovers from the database when next used).</param>
public sealed record RoomSettings(int PerClient, int PerServer, int MembersPerRoom, int TopicMaxBytes, TimeSpan IdleUnload);

/// <param name="Scrollback">Lines of each of its rooms a client gets when it joins or reconnects.</param>
/// <param name="MaxPage">Lines one history request returns at most.</param>
/// <param name="RoomMaxLines">Lines a room keeps; older ones are deleted.</param>
/// <param name="RoomMaxAge">Room lines older than this are deleted.</param>
/// <param name="SnapshotEvery">A room saves its state every this many events (recovery replays at most this many).</param>
/// <param name="OfflineMaxMessages">Direct messages kept for one offline recipient at most (count)...</param>
/// <param name="OfflineMaxBytes">...and bytes.</param>
/// <param name="DirectMaxAge">A direct message not delivered within this time is dropped.</param>
/// <param name="RetentionInterval">How often the limits above are enforced on rooms nobody uses.</param>
public sealed record HistorySettings(int Scrollback, int MaxPage, int RoomMaxLines, TimeSpan RoomMaxAge, int SnapshotEvery,
    int OfflineMaxMessages, long OfflineMaxBytes, TimeSpan DirectMaxAge, TimeSpan RetentionInterval);

/// <param name="ExpireAfter">A registered name unused this long is free again.</param>
/// <param name="MaxRegistered">Names registered at most; beyond, a new name is held while its client is online only.</param>
public sealed record NameSettings(TimeSpan ExpireAfter, int MaxRegistered);

/// <summary>Server: files kept for their recipients (several at once, or offline), in <paramref name="Folder"/>
/// (state-dir/spool), each content once, named by its SHA-256.</summary>
/// <param name="MaxBytes">What the spool holds at most, uploads on their way included.</param>
/// <param name="MaxBytesPerSender">What one sender's files may take of it.</param>
/// <param name="MaxBytesPerRecipient">What files waiting for one recipient may take of it.</param>
/// <param name="ExpireAfter">A kept file not yet delivered to everyone is dropped this long after its upload.</param>
/// <param name="DeliveriesPerRecipient">Kept files offered to one recipient at once; the rest follow as those end.</param>
/// <param name="MaxRoomMembers">Members a room may have for a file to be kept for it (each is a recipient).</param>
/// <param name="ClaimsPerConnection">Claims (a file's hash before its offer) one connection may have waiting.</param>
/// <param name="ProofTimeout">How long a client has to answer a request for a proof of possession.</param>
/// <param name="ClaimsRefusedFor">After a wrong proof, how long that identity's claims are not taken.</param>
public sealed record SpoolSettings(bool Enabled, string Folder, long MaxBytes, long MaxBytesPerSender, long MaxBytesPerRecipient, int MaxRecipients,
    int MaxFiles, TimeSpan ExpireAfter, TimeSpan SweepInterval, int DeliveriesPerRecipient, int MaxRoomMembers, int ClaimsPerConnection,
    TimeSpan ProofTimeout, TimeSpan ClaimsRefusedFor);

/// <summary>The browser client (server only; README, "The web client").</summary>
/// <param name="Enabled">Serve it (CLI: --web-port).</param>
/// <param name="Host">The address to listen on (web.host, else the server's host).</param>
/// <param name="Port">The port; 0 takes any free one.</param>
/// <param name="AssetsDir">Empty: the page built into the program. Else a folder to serve it from instead (for work on
/// the client: a rebuilt page is served without rebuilding the server).</param>
public sealed record WebSettings(bool Enabled, string Host, int Port, string AssetsDir);

/// <param name="Servers">The server's address (host, port) first, then the other nodes of its cluster (client.servers).</param>
public sealed record ClientSettings(IReadOnlyList<(string Host, int Port)> Servers, TimeSpan ConnectTimeout, TimeSpan HandshakeTimeout, bool Reconnect, TimeSpan MinBackoff, TimeSpan MaxBackoff);

/// <param name="SendQueue">Client: lines that may wait to leave at the server's pace; a line beyond is not queued (and
/// says so).</param>
/// <param name="ConfirmTimeout">Server: a line the server passed on (to another node, say) and that is not confirmed
/// within this time is reported to its sender as not confirmed.</param>
public sealed record ChatSettings(int MaxMessageBytes, int PresenceLimit, int SendQueue, TimeSpan ConfirmTimeout);

public sealed record TransferSettings(
    int ChunkSize,
    int Window,
    int MaxWindow,
    long NodeWindowBudget,
    TimeSpan ProgressInterval,
    int MaxConcurrentSends,
    TimeSpan OfferSlotGrace,
    int MaxWaitingOffers,
    int MaxConcurrentReceives,
    int OffersPerSecond,
    bool AutoAccept,
    TimeSpan OfferTimeout,
    TimeSpan AnswerTimeout,
    TimeSpan StartTimeout,
    TimeSpan PartialMaxAge,
    long ResumeMinSize,
    long MaxFileSize,
    bool CheckFreeSpace,
    long MinFreeSpace,
    TimeSpan StallTimeout,
    bool SyncOnComplete,
    int FolderMaxFiles,
    long FolderFileMaxSize,
    string FileIoDispatcher,
    string SendDispatcher);
