namespace HikShareGateway.Core.Configuration;

/// <summary>
/// The daemon cannot start for a reason an installer can fix (a port in use, a missing file). The host prints the
/// message on one line, without a stack trace, and exits non-zero.
/// </summary>
public sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);
