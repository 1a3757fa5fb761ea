namespace HikShareGateway.Core.Access;

/// <summary>Which grants topic a message came from (contract §3).</summary>
public enum GrantMessageKind { Snapshot, Delta }

/// <summary>What the cloud link must do after a grant message was handled.</summary>
/// <param name="HeldVersion">The version held afterwards.</param>
/// <param name="ResyncNeeded">Ask the cloud for a fresh snapshot: publish <c>grants/resync</c> <c>{"version": HeldVersion}</c>.</param>
/// <param name="RejectedReason">Set when the message was refused (too large, bad signature, unparseable, wrong gateway):
/// a short, stable reason, safe to publish (never the payload). The link reports it to the cloud in its status and asks
/// for a resync, at a bounded rate; the grants held stay in force.</param>
public readonly record struct GrantsReceipt(long HeldVersion, bool ResyncNeeded, string? RejectedReason = null);

/// <summary>
/// Where the cloud link delivers signed grant messages (implemented by the grants store). The inbox decides
/// everything (signature, version rules); the link only moves bytes and publishes what the receipt asks for.
/// </summary>
public interface IGrantsInbox
{
    /// <summary>Largest message accepted; the link rejects longer ones without copying them.</summary>
    int MaxMessageBytes { get; }
    /// <summary>The version held (0 = none).</summary>
    long Version { get; }
    /// <summary>Raised after every change of the grants in force (the link republishes its status).</summary>
    event Action? Changed;
    /// <summary>Verifies and applies one message. Never throws on bad input.</summary>
    GrantsReceipt Receive(GrantMessageKind kind, ReadOnlySpan<byte> message);
    /// <summary>A message longer than <see cref="MaxMessageBytes"/>: counted and logged, never read.</summary>
    GrantsReceipt RejectOversized(GrantMessageKind kind, long length);
}
