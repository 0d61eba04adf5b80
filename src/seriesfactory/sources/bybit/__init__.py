"""Bybit: public trading archives (public.bybit.com/trading)."""
